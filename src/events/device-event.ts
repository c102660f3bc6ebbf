import type { CallStatus } from '../actors/index.js';

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
  /** Call events: the call (its per-device request id) and the status it reached. */
  readonly call?: {
    readonly id: number;
    readonly method: string;
    readonly oneway: boolean;
    readonly status: CallStatus;
    readonly error?: { readonly code: string; readonly message: string };
  };
}

export type DeviceEventListener = (event: DeviceEvent) => void;
