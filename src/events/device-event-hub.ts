import type { ActorSystem, CallEvent, SessionEvent } from '../actors/index.js';
import type { StoredCall } from '../persistence/call-store.js';
import type { DeviceEvent, DeviceEventListener } from './device-event.js';
import type { LatestValues } from '../device-data/latest-values.js';

/** Where events of devices whose sessions are on other nodes come from (the cluster's relay). */
export interface RemoteDeviceEvents {
  /** An event that happened here, for watchers on other nodes. */
  published(event: DeviceEvent): void;
  /** Whether other nodes watch this device's calls. */
  wantsCallEvents(deviceId: string): boolean;
  /** How many devices here other nodes watch; `changed` is told when it changes. */
  readonly watchedHere: number;
  onWatchedHereChange(changed: () => void): void;
  watch(deviceId: string, listener: DeviceEventListener): void;
  unwatch(deviceId: string, listener: DeviceEventListener): void;
}

/**
 * The session and call events of each device, for whoever watches it: the
 * actor system's events here, and, in a cluster, those of the node that holds
 * the device's session. One listener on the actor system, whatever the number
 * of watchers.
 */
export class DeviceEventHub {
  readonly #watchers = new Map<string, Set<DeviceEventListener>>();
  readonly #remote: RemoteDeviceEvents | undefined;
  readonly #nodeId: string | undefined;

  readonly #actors: ActorSystem;
  #listeningToCalls = false;

  constructor(actors: ActorSystem, remote?: RemoteDeviceEvents, nodeId?: string) {
    this.#actors = actors;
    this.#remote = remote;
    this.#nodeId = nodeId;
    actors.on('session', (event) => this.#happened(sessionEvent(event, nodeId)));
    remote?.onWatchedHereChange(() => this.#listenToCallsWhileWatched());
  }

  /** Call events cost on every call: the actor system emits them only while some device is watched. */
  #listenToCallsWhileWatched(): void {
    const wanted = this.#watchers.size > 0 || (this.#remote?.watchedHere ?? 0) > 0;
    if (wanted === this.#listeningToCalls) return;
    this.#listeningToCalls = wanted;
    if (wanted) this.#actors.on('call', this.#onCall);
    else this.#actors.off('call', this.#onCall);
  }

  readonly #onCall = (event: CallEvent): void => {
    if (this.#watchers.has(event.deviceId) || this.#remote?.wantsCallEvents(event.deviceId) === true) this.#happened(callEvent(event, this.#nodeId));
  };

  /** Calls `listener` with every event of the device until the returned function is called. */
  watch(deviceId: string, listener: DeviceEventListener): () => void {
    let watchers = this.#watchers.get(deviceId);
    if (watchers === undefined) {
      this.#watchers.set(deviceId, (watchers = new Set()));
      this.#remote?.watch(deviceId, this.#fromElsewhere);
      this.#listenToCallsWhileWatched();
    }
    watchers.add(listener);
    return () => {
      if (!watchers.delete(listener) || watchers.size > 0) return;
      this.#watchers.delete(deviceId);
      this.#remote?.unwatch(deviceId, this.#fromElsewhere);
      this.#listenToCallsWhileWatched();
    };
  }

  /** Telemetry and attributes of watched devices are events too (a page shows a device's state live). */
  followDeviceData(data: LatestValues): void {
    data.on('telemetry', ({ device, entries }) => {
      if (this.#watchers.has(device.id) || this.#remote?.wantsCallEvents(device.id) === true) this.#happened(this.#dataEvent(device.id, 'telemetry', { telemetry: entries }));
    });
    data.on('attributes', ({ device, scope, values }) => {
      if (this.#watchers.has(device.id) || this.#remote?.wantsCallEvents(device.id) === true) this.#happened(this.#dataEvent(device.id, 'attributes', { attributes: { scope, values } }));
    });
  }

  #dataEvent(deviceId: string, event: 'telemetry' | 'attributes', data: Pick<DeviceEvent, 'telemetry' | 'attributes'>): DeviceEvent {
    return { deviceId, event, timestamp: Date.now(), ...(this.#nodeId === undefined ? {} : { node: this.#nodeId }), ...data };
  }

  /** A persistent call's status was written here. */
  persistentStatus(call: StoredCall): void {
    this.#happened({
      deviceId: call.deviceId,
      event: 'call',
      timestamp: call.updatedTime,
      ...(this.#nodeId === undefined ? {} : { node: this.#nodeId }),
      call: { rpcId: call.id, method: call.request.method, oneway: call.request.oneway, status: call.status },
    });
  }

  #happened(event: DeviceEvent): void {
    this.#deliver(event);
    this.#remote?.published(event);
  }

  readonly #fromElsewhere = (event: DeviceEvent): void => {
    if (event.node !== this.#nodeId) this.#deliver(event);
  };

  #deliver(event: DeviceEvent): void {
    const watchers = this.#watchers.get(event.deviceId);
    if (watchers !== undefined) for (const listener of [...watchers]) listener(event);
  }
}

function sessionEvent(event: SessionEvent, node: string | undefined): DeviceEvent {
  return { deviceId: event.deviceId, event: event.state, timestamp: Date.now(), transport: event.transport, ...(node === undefined ? {} : { node }) };
}

function callEvent(event: CallEvent, node: string | undefined): DeviceEvent {
  return {
    deviceId: event.deviceId,
    event: 'call',
    timestamp: Date.now(),
    ...(node === undefined ? {} : { node }),
    call: {
      id: event.requestId,
      method: event.method,
      oneway: event.oneway,
      status: event.status,
      ...(event.error === undefined ? {} : { error: { code: event.error.code, message: event.error.message } }),
    },
  };
}
