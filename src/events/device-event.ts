import type { CallStatus } from '../actors/index.js';
import type { PersistentStatus } from '../persistence/call-store.js';
import type { TelemetryEntry } from '../device-data/device-data-payload.js';

/** What a WebSocket subscriber is told about one device (SPEC.md, WebSocket API). */
export interface DeviceEvent {
  readonly deviceId: string;
  readonly event: 'connected' | 'disconnected' | 'subscribed' | 'unsubscribed' | 'call' | 'telemetry' | 'attributes';
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
  /** Telemetry events: what the device sent, as `{"ts","values"}` entries. */
  readonly telemetry?: readonly TelemetryEntry[];
  /** Attributes events: the device's own (`client`) or set by the application (`shared`). */
  readonly attributes?: { readonly scope: 'client' | 'shared'; readonly values: Readonly<Record<string, unknown>> };
}

export type DeviceEventListener = (event: DeviceEvent) => void;
