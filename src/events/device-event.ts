import type { CallStatus } from '../actors/index.js';
import type { PersistentStatus } from '../persistence/call-store.js';

/** What a WebSocket subscriber is told about one device (SPEC.md, WebSocket API). */
export interface DeviceEvent {
  readonly deviceId: string;
  readonly event: 'connected' | 'disconnected' | 'subscribed' | 'unsubscribed' | 'call';
  /** Epoch ms, on the node where it happened. */
  readonly timestamp: number;
  /** Session events: mqtt, mqtt-ws, coap, http, gateway. */
  readonly transport?: string;
  /** In a cluster: the node that holds the session. */
  readonly node?: string;
  /**
   * Call events: the call and the status it reached. A call on its way to the
   * device has its per-device request `id` and a lower-case status; a
   * persistent call also has events of its own, with its `rpcId` and the
   * stored status (QUEUED, SENT, … DELETED) as each is written.
   */
  readonly call?: {
    readonly id?: number;
    readonly rpcId?: string;
    readonly method: string;
    readonly oneway: boolean;
    readonly status: CallStatus | PersistentStatus;
    readonly error?: { readonly code: string; readonly message: string };
  };
}

export type DeviceEventListener = (event: DeviceEvent) => void;
