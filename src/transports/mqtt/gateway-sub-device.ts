import type { CloseReason, DeliveryResult, OutgoingRequest, SessionLink } from '../../actors/session-link.js';
import { publishToDevice } from './handlers/device-data.js';
import { GATEWAY_TOPICS } from './topics.js';
import type { MqttConnection } from './connection.js';

/**
 * A device behind a gateway: its session is a name on the gateway's MQTT
 * connection. Requests travel through the gateway's `v1/gateway/rpc`
 * subscription; it is subscribed while the gateway is.
 */
export class GatewaySubDevice implements SessionLink {
  readonly transport = 'mqtt-gateway';
  #open = true;
  #stopAttributeUpdates: (() => void) | null = null;

  constructor(
    readonly gateway: MqttConnection,
    readonly deviceId: string,
    readonly name: string,
  ) {}

  get remoteAddress(): string {
    return this.gateway.remoteAddress;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Opens the sub-device's session; subscribed at once if the gateway is. */
  start(): void {
    const actors = this.gateway.context.actors;
    actors.attach(this.deviceId, this);
    if (this.#open && this.gateway.gatewayQos !== null) actors.subscribe(this.deviceId, this);
    this.followAttributeUpdates();
  }

  /** Listens for the device's shared attribute updates while it is open and the gateway takes `v1/gateway/attributes`. */
  followAttributeUpdates(): void {
    const wanted = this.#open && this.gateway.gatewayTakesAttributes;
    if (wanted && this.#stopAttributeUpdates === null) this.#stopAttributeUpdates = this.gateway.context.attributeUpdates.listen(this.deviceId, (values) => this.pushAttributes(values));
    if (!wanted) {
      this.#stopAttributeUpdates?.();
      this.#stopAttributeUpdates = null;
    }
  }

  subscribe(): void {
    if (this.#open) this.gateway.context.actors.subscribe(this.deviceId, this);
  }

  unsubscribe(): void {
    if (this.#open) this.gateway.context.actors.unsubscribe(this.deviceId, this);
  }

  deliver(request: OutgoingRequest): DeliveryResult {
    return this.#open ? this.gateway.deliverForSubDevice(this, request) : 'failed';
  }

  /** ThingsBoard pushes a sub-device's shared attributes on `v1/gateway/attributes` as `{"device","data"}`. */
  pushAttributes(values: Readonly<Record<string, unknown>>): void {
    publishToDevice(this.gateway, GATEWAY_TOPICS.attributes, JSON.stringify({ device: this.name, data: values }));
  }

  /** The actor system closed this session (the device connected elsewhere, was deleted, or the server closes). */
  close(_reason: CloseReason): void {
    this.#open = false;
    this.followAttributeUpdates();
    if (this.gateway.subDevices?.get(this.name) === this) this.gateway.subDevices.delete(this.name);
  }

  /** `v1/gateway/disconnect`, or the gateway's own session ended. */
  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.followAttributeUpdates();
    if (this.gateway.subDevices?.get(this.name) === this) this.gateway.subDevices.delete(this.name);
    this.gateway.context.actors.detach(this.deviceId, this);
  }
}
