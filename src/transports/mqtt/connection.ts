import { RpcError } from '../../errors.js';
import { requestJson, type CloseReason, type DeliveryResult, type OutgoingRequest, type SessionLink } from '../../actors/session-link.js';
import type { Device } from '../../registry/device-registry.js';
import type { DeadlineTarget } from '../../scheduling/deadline-scheduler.js';
import type { TransportContext } from '../transport-context.js';
import { FrameReader, FrameTooLargeError, MalformedPacketError, decodeFrame, encodePacket, encodePublish, type OutgoingPublish, type Packet, type ProtocolVersion } from './codec.js';
import { dispatchPacket } from './handlers/index.js';
import { REASON } from './reason-codes.js';
import type { GatewaySubDevice } from './gateway-sub-device.js';
import { DATA_TOPICS, GATEWAY_TOPICS, RPC_TOPICS, topicMatches, type TopicStyle } from './topics.js';
import { publishToDevice } from './handlers/device-data.js';
import type { MqttWire } from './wire.js';

/** A QoS 1 request awaiting PUBACK: this device's request id, or a gateway sub-device's. */
export type InflightRequest = number | { readonly deviceId: string; readonly requestId: number };

const UNACCEPTABLE_PROTOCOL_CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x01]);

/** How long a peer closed as too slow has to read its last bytes before its socket is destroyed. */
const TOO_SLOW_GRACE_MS = 2000;

/** A socket that has not sent CONNECT within this time is closed. */
export const CONNECT_TIMEOUT_MS = 10_000;

const CLOSE_REASON_CODES: Record<CloseReason, number> = {
  takeover: REASON.SESSION_TAKEN_OVER,
  removed: REASON.ADMINISTRATIVE_ACTION,
  shutdown: REASON.SERVER_SHUTTING_DOWN,
};

/**
 * One MQTT connection of one device: turns frames into actor events (through
 * the packet handlers) and the actors' deliveries into PUBLISH frames. It is
 * the device's SessionLink while it is connected.
 */
export class MqttConnection implements SessionLink, DeadlineTarget {
  version: ProtocolVersion = 4;
  device: Device | null = null;
  /** The RPC request subscription: its topic form and granted QoS. */
  rpcStyle: TopicStyle | null = null;
  rpcQos: 0 | 1 = 0;
  /** Every granted filter; created on the first SUBSCRIBE. */
  filters: Map<string, number> | null = null;
  keepAliveMs = 0;
  /** MQTT 5: the largest packet the device accepts (CONNECT Maximum Packet Size). */
  peerMaxPacketBytes = Infinity;
  /** MQTT 5: how many QoS 1 requests the device takes unacknowledged (CONNECT Receive Maximum). */
  peerReceiveMaximum = 65535;
  lastSeen = Date.now();
  closed = false;
  /** Opened while the listener held limits.maxMqttConnections: its CONNECT is refused (server busy). */
  overCapacity = false;
  readonly #wire: MqttWire;
  readonly #context: TransportContext;
  readonly #reader: FrameReader;
  /** PUBLISH packet id → RPC request id, for QoS 1 requests awaiting PUBACK. */
  #inflight: Map<number, InflightRequest> | null = null;
  /** Sub-devices announced through this gateway connection, by name; created on the first announcement. */
  subDevices: Map<string, GatewaySubDevice> | null = null;
  /** A gateway subscribed to `v1/gateway/attributes`: its devices' shared attribute updates are pushed there. */
  gatewayTakesAttributes = false;
  #stopAttributeUpdates: (() => void) | null = null;
  /** A request was held back by the client's Receive Maximum. */
  #waitingForReceiveMaximum = false;
  /** QoS granted on `v1/gateway/rpc`, or null while the gateway is not subscribed to it. */
  gatewayQos: 0 | 1 | null = null;
  #lastPacketId = 0;
  #deadlineKey = -1;
  /** Requests were held back because the peer had not read what it was sent (limits.maxWriteBufferBytes). */
  #awaitingDrain = false;

  constructor(wire: MqttWire, context: TransportContext) {
    this.#wire = wire;
    this.#context = context;
    this.#reader = new FrameReader(context.maxMqttPacketBytes);
    this.#deadlineKey = context.scheduler.schedule(Date.now() + CONNECT_TIMEOUT_MS, this);
  }

  get context(): TransportContext {
    return this.#context;
  }

  get transport(): string {
    return this.#wire.kind;
  }

  get remoteAddress(): string {
    return this.#wire.remoteAddress;
  }

  // ── bytes in ──────────────────────────────────────────────────────────────

  onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastSeen = Date.now();
    try {
      this.#reader.push(chunk, this.#onFrame);
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        this.#context.logger.debug({ remote: this.remoteAddress, size: error.size }, 'mqtt packet too large');
        this.disconnect(REASON.PACKET_TOO_LARGE);
      } else if (error instanceof MalformedPacketError && this.device === null && error.message === 'Invalid protocol version') {
        // [MQTT-3.1.2-2]: CONNACK 0x01 "unacceptable protocol version", then close.
        this.#wire.write(UNACCEPTABLE_PROTOCOL_CONNACK);
        this.#release();
        this.#wire.end();
      } else if (error instanceof MalformedPacketError) {
        this.#context.logger.debug({ remote: this.remoteAddress, reason: error.message }, 'malformed mqtt packet');
        this.disconnect(REASON.MALFORMED_PACKET);
      } else {
        this.reportFailure(error);
        this.disconnect(REASON.UNSPECIFIED_ERROR);
      }
    }
  }

  /** A failure of the server's own code while serving this connection (a bug): logged with its stack, rate-limited. */
  reportFailure(error: unknown): void {
    this.#context.internalErrors.report(error, { transport: 'mqtt', remote: this.remoteAddress });
  }

  readonly #onFrame = (frame: Buffer): boolean => {
    const packet = decodeFrame(frame, this.version);
    dispatchPacket(this, packet);
    return !this.closed;
  };

  /** The wire closed, for whatever reason. */
  onClose(): void {
    this.#release();
  }

  /**
   * The session ends here, when the server decides it, not when the peer gets
   * round to closing its side: a silent device must not stay "subscribed".
   */
  #release(): void {
    this.closed = true;
    if (this.#deadlineKey >= 0) this.#context.scheduler.cancel(this.#deadlineKey, this);
    this.#deadlineKey = -1;
    this.#inflight = null;
    const device = this.device;
    this.#stopFollowingAttributes();
    this.device = null;
    if (device !== null) this.#context.actors.detach(device.id, this);
    // A gateway's disconnect ends every sub-device session (SPEC.md).
    const subDevices = this.subDevices;
    this.subDevices = null;
    for (const subDevice of subDevices?.values() ?? []) subDevice.end();
  }

  // ── session ───────────────────────────────────────────────────────────────

  /** CONNECT accepted: the keep-alive clock starts ([MQTT-3.1.2-24]: 1.5 × the interval). */
  accept(device: Device, keepAliveSeconds: number): void {
    this.device = device;
    this.keepAliveMs = keepAliveSeconds * 1500;
    this.#rescheduleDeadline(this.keepAliveMs > 0 ? this.lastSeen + this.keepAliveMs : -1);
  }

  onDeadline(now: number): void {
    this.#deadlineKey = -1;
    if (this.closed) return;
    if (this.device === null) {
      this.#context.logger.debug({ remote: this.remoteAddress }, 'no CONNECT in time');
      this.#wire.destroy();
      return;
    }
    const due = this.lastSeen + this.keepAliveMs;
    if (now >= due) {
      this.#context.logger.debug({ device: this.device.id }, 'mqtt keep-alive expired');
      this.disconnect(REASON.KEEP_ALIVE_TIMEOUT);
    } else {
      this.#rescheduleDeadline(due);
    }
  }

  #rescheduleDeadline(at: number): void {
    const scheduler = this.#context.scheduler;
    if (this.#deadlineKey >= 0) scheduler.cancel(this.#deadlineKey, this);
    this.#deadlineKey = at < 0 ? -1 : scheduler.schedule(at, this);
  }

  // ── bytes out ─────────────────────────────────────────────────────────────

  /**
   * Acks and answers. A peer that has not read the last maxWriteBufferBytes it was sent is closed as too slow
   * (MQTT 5: DISCONNECT 0x97 Quota exceeded) rather than buffered for without end.
   */
  send(packet: Packet): boolean {
    return this.sendFrame(encodePacket(packet, this.version));
  }

  /** The same, for a frame already encoded (codec.ts's hot-path encoders). */
  sendFrame(frame: Buffer): boolean {
    if (this.closed) return false;
    if (this.#wire.buffered >= this.#context.maxWriteBufferBytes) {
      this.#tooSlow();
      return false;
    }
    return this.#wire.write(frame);
  }

  /** Queued behind what the peer has not read: a peer that starts reading again gets its DISCONNECT 0x97, one that does not is cut. */
  #tooSlow(): void {
    this.#context.logger.debug({ device: this.device?.id, remote: this.remoteAddress, buffered: this.#wire.buffered }, 'mqtt peer too slow: it does not read what it is sent');
    if (this.version === 5 && this.device !== null) this.#wire.write(encodePacket({ cmd: 'disconnect', reasonCode: REASON.QUOTA_EXCEEDED }, 5));
    this.#release();
    this.#wire.end();
    const wire = this.#wire;
    setTimeout(() => wire.destroy(), TOO_SLOW_GRACE_MS).unref();
  }

  /** Ends the connection; MQTT 5 peers first get a DISCONNECT with the reason ([MQTT-4.13.1]). */
  disconnect(reasonCode: number): void {
    if (this.closed) return;
    if (this.version === 5 && this.device !== null) this.send({ cmd: 'disconnect', reasonCode });
    this.#release();
    this.#wire.end();
  }

  /** Closes at once, nothing flushed. */
  destroy(): void {
    this.#release();
    this.#wire.destroy();
  }

  /** The client said DISCONNECT: close without a word back. */
  hangUp(): void {
    this.#release();
    this.#wire.end();
  }

  /** Refuses a CONNECT with a CONNACK return/reason code, then closes ([MQTT-3.2.2-5]). */
  refuse(returnCode: number): void {
    if (this.version === 5) this.send({ cmd: 'connack', sessionPresent: false, reasonCode: returnCode });
    else this.send({ cmd: 'connack', sessionPresent: false, returnCode });
    this.#release();
    this.#wire.end();
  }

  // ── SessionLink ───────────────────────────────────────────────────────────

  deliver(request: OutgoingRequest): DeliveryResult {
    const style = this.rpcStyle;
    if (this.closed || style === null) return 'failed';
    const topics = RPC_TOPICS[style];
    const publish: { -readonly [K in keyof OutgoingPublish]: OutgoingPublish[K] } = { topic: topics.request + request.id, payload: requestJson(request, false), qos: this.rpcQos };
    if (this.version === 5) {
      publish.properties = {
        messageExpiryInterval: expirySeconds(request.deadline),
        responseTopic: topics.response + request.id,
        correlationData: Buffer.from(request.correlation),
      };
    }
    return this.#publishRequest(publish, request.id);
  }

  /** A sub-device's request, through this gateway's `v1/gateway/rpc` subscription (SPEC.md). */
  deliverForSubDevice(subDevice: GatewaySubDevice, request: OutgoingRequest): DeliveryResult {
    const qos = this.gatewayQos;
    if (this.closed || qos === null) return 'failed';
    const payload = `{"device":${JSON.stringify(subDevice.name)},"data":${requestJson(request, true)}}`;
    const properties = this.version === 5 ? { messageExpiryInterval: expirySeconds(request.deadline) } : undefined;
    return this.#publishRequest({ topic: GATEWAY_TOPICS.rpc, payload, qos, properties }, { deviceId: subDevice.deviceId, requestId: request.id });
  }

  #publishRequest(publish: { -readonly [K in keyof OutgoingPublish]: OutgoingPublish[K] }, inflightEntry: InflightRequest): DeliveryResult {
    const qos = publish.qos;
    // A peer that does not read: the call waits in line (and ends with its honest error at its deadline) instead of
    // being buffered here and called delivered. Requests stop at half the mark, so that the acks and answers a device
    // that does read needs still fit under it (send() closes past the whole mark). The queue moves again once the
    // peer has read what it was sent.
    const mark = this.#context.maxWriteBufferBytes;
    if (this.#wire.buffered >= mark / 2) {
      if (!this.#awaitingDrain) {
        this.#awaitingDrain = true;
        this.#wire.onceBelow(mark / 4, this.#drained);
      }
      return 'failed';
    }
    // MQTT 5 §3.3.4: no more unacknowledged QoS 1 PUBLISHes than the client's Receive Maximum.
    // The call waits in line; the next PUBACK lets it go.
    if (qos === 1 && this.#inflight !== null && this.#inflight.size >= this.peerReceiveMaximum) {
      this.#waitingForReceiveMaximum = true;
      return 'failed';
    }
    if (qos === 1) {
      publish.messageId = this.#nextPacketId();
      (this.#inflight ??= new Map()).set(publish.messageId, inflightEntry);
    }
    const bytes = encodePublish(publish, this.version);
    if (bytes.length > this.peerMaxPacketBytes) {
      if (publish.messageId !== undefined) this.#inflight?.delete(publish.messageId);
      // MQTT 5 §3.1.2.11.4: never send a packet over the client's Maximum Packet Size.
      throw new RpcError('IOT_ERR_PAYLOAD_TOO_LARGE', `request of ${bytes.length} bytes is over the device's Maximum Packet Size (${this.peerMaxPacketBytes})`);
    }
    if (!this.#wire.write(bytes)) {
      if (publish.messageId !== undefined) this.#inflight?.delete(publish.messageId);
      return 'failed';
    }
    return qos === 1 ? 'sent' : 'delivered';
  }

  /** ThingsBoard pushes shared attribute updates on `v1/devices/me/attributes` (`v2/a`) to a device subscribed there. */
  pushAttributes(values: Readonly<Record<string, unknown>>): void {
    const payload = JSON.stringify(values);
    for (const style of ['v1', 'v2'] as const) publishToDevice(this, DATA_TOPICS[style].attributes, payload);
  }

  /**
   * After each SUBSCRIBE and UNSUBSCRIBE: the connection listens for its device's shared attribute updates while a
   * filter takes `v1/devices/me/attributes` or `v2/a`, and a gateway for its devices' while one takes
   * `v1/gateway/attributes`. A device that never subscribes there costs nothing.
   */
  followAttributeUpdates(): void {
    const device = this.device;
    if (device === null) return;
    const own = this.#takes(DATA_TOPICS.v1.attributes) || this.#takes(DATA_TOPICS.v2.attributes);
    if (own && this.#stopAttributeUpdates === null) this.#stopAttributeUpdates = this.#context.attributeUpdates.listen(device.id, (values) => this.pushAttributes(values));
    if (!own) this.#stopFollowingAttributes();
    if (!device.gateway) return;
    this.gatewayTakesAttributes = this.#takes(GATEWAY_TOPICS.attributes);
    for (const subDevice of this.subDevices?.values() ?? []) subDevice.followAttributeUpdates();
  }

  #takes(topic: string): boolean {
    for (const filter of this.filters?.keys() ?? []) if (topicMatches(filter, topic)) return true;
    return false;
  }

  #stopFollowingAttributes(): void {
    this.#stopAttributeUpdates?.();
    this.#stopAttributeUpdates = null;
  }

  close(reason: CloseReason): void {
    if (this.version === 5 && this.device !== null && !this.closed) this.send({ cmd: 'disconnect', reasonCode: CLOSE_REASON_CODES[reason] });
    this.#release(); // the actor system has already let go of this session
    this.#wire.end();
  }


  /** The RPC request id a PUBACK acknowledges, once. */
  takeInflight(packetId: number): InflightRequest | undefined {
    const entry = this.#inflight?.get(packetId);
    if (entry !== undefined) this.#inflight!.delete(packetId);
    return entry;
  }

  /**
   * A PUBACK freed a slot of the client's Receive Maximum. The acknowledged
   * device's queue moves on by itself; a gateway shares the limit with its
   * sub-devices, whose calls held back by it are let go here.
   */
  slotFreed(): void {
    if (!this.#waitingForReceiveMaximum || this.subDevices === null) return;
    this.#waitingForReceiveMaximum = false;
    const { actors } = this.context;
    actors.resumeDelivery(this.device!.id);
    for (const subDevice of this.subDevices.values()) actors.resumeDelivery(subDevice.deviceId);
  }

  readonly #drained = (): void => {
    this.#awaitingDrain = false;
    if (this.closed || this.device === null) return;
    const { actors } = this.#context;
    actors.resumeDelivery(this.device.id);
    for (const subDevice of this.subDevices?.values() ?? []) actors.resumeDelivery(subDevice.deviceId);
  };

  /** [MQTT-2.3.1-2]: a packet id is not reused while its QoS 1 exchange is open. */
  #nextPacketId(): number {
    const inflight = this.#inflight;
    for (let tries = 0; tries < 65535; tries++) {
      this.#lastPacketId = this.#lastPacketId >= 65535 ? 1 : this.#lastPacketId + 1;
      if (inflight === null || !inflight.has(this.#lastPacketId)) return this.#lastPacketId;
    }
    // 65535 unacknowledged requests: the oldest id is recycled; its call still ends by its deadline.
    inflight!.delete(this.#lastPacketId);
    return this.#lastPacketId;
  }
}

/** MQTT 5 Message Expiry Interval from a call's deadline: whole seconds left, at least one. */
function expirySeconds(deadline: number): number {
  return Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
}
