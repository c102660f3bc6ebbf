import type { CallStatus } from '../actors/index.js';

/** An error as it crosses Redis: rebuilt on the other side with RpcError.fromData. */
export interface ErrorData {
  readonly code: string;
  readonly message: string;
}

/** What one node sends another's inbox. JSON on the wire. */
export type InboxMessage =
  | {
      readonly t: 'call';
      readonly id: string;
      readonly from: string;
      readonly deviceId: string;
      readonly method: string;
      readonly params: unknown;
      readonly oneway: boolean;
      readonly deadline: number;
      readonly requestUUID?: string;
      /** The caller wants every status (library onStatus). */
      readonly statuses: boolean;
    }
  /** The caller withdrew call `id` (its AbortSignal fired). */
  | { readonly t: 'cancel'; readonly id: string; readonly from: string }
  /** Device `deviceId` connected to node `node`: the session here must close. */
  | { readonly t: 'takeover'; readonly deviceId: string; readonly node: string }
  /** A persistent call was stored for a device whose session is here: load and deliver it. */
  | { readonly t: 'resume'; readonly deviceId: string }
  /** Persistent call `rpcId` was deleted: stop delivering it. */
  | { readonly t: 'withdraw'; readonly rpcId: string }
  /** A node watches this device's events (renewed every third of a lease). */
  | { readonly t: 'watch'; readonly deviceId: string }
  /** Are you there? (the publish's receiver count answers) */
  | { readonly t: 'ping' };

/** What comes back on the calling node's reply channel. */
export type ReplyMessage =
  | { readonly t: 'reply'; readonly id: string; readonly value?: unknown }
  | { readonly t: 'error'; readonly id: string; readonly error: ErrorData }
  /** The device's session is not (or no longer) on that node: route again. */
  | { readonly t: 'moved'; readonly id: string }
  | { readonly t: 'status'; readonly id: string; readonly status: CallStatus; readonly requestId: number };

export const inboxOf = (nodeId: string) => `iotrpc:inbox:{n:${nodeId}}`;
export const repliesOf = (nodeId: string) => `iotrpc:replies:{n:${nodeId}}`;
export const eventsOf = (deviceId: string) => `iotrpc:events:{d:${deviceId}}`;
export const arrivalsOf = (deviceId: string) => `iotrpc:arrivals:{d:${deviceId}}`;
