import { ApiError } from './api-client.js';

/** A call's result as a person reads it: which failure it was, how long was waited. */
export interface CallOutcome {
  readonly ok: boolean;
  /** Short: "Replied", "Delivered", "Offline", "Not subscribed", "Sent, no reply", "Delivered, no reply", … */
  readonly title: string;
  readonly detail: string;
  readonly code?: string;
  readonly ms: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** What went wrong, in the four ways a call can fail at a device, and the others. */
export function describeFailure(error: unknown, ms: number, timeoutMs: number): CallOutcome {
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  const waited = `waited ${seconds(timeoutMs)}`;
  const known: Record<string, [string, string]> = {
    IOT_ERR_DEVICE_OFFLINE: ['Offline', `The device has no session: the call was never sent (${waited}).`],
    IOT_ERR_NOT_SUBSCRIBED: ['Not subscribed', `The device is connected but not subscribed to RPC: the call was never sent (${waited}).`],
    IOT_ERR_NO_REPLY_SENT: ['Sent, no reply', `The request went out, but the device neither acknowledged nor answered it (${waited}).`],
    IOT_ERR_NO_REPLY_DELIVERED: ['Delivered, no reply', `The device took the request but did not answer (${waited}).`],
    IOT_ERR_DEVICE_NOT_FOUND: ['Not found', 'No such device, or not one of yours.'],
    IOT_ERR_FORBIDDEN: ['Forbidden', message],
    IOT_ERR_UNAUTHORIZED: ['Signed out', 'Your session ended: log in again.'],
    IOT_ERR_TOKEN_EXPIRED: ['Signed out', 'Your session ended: log in again.'],
    NETWORK: ['Server unreachable', message],
  };
  const [title, detail] = known[code] ?? ['Error', message];
  return { ok: false, title, detail, code, ms };
}

export function describeReply(oneway: boolean, ms: number): CallOutcome {
  return oneway ? { ok: true, title: 'Delivered', detail: 'Handed over to the device (one-way: no reply is awaited).', ms } : { ok: true, title: 'Replied', detail: `The device answered in ${ms} ms.`, ms };
}
