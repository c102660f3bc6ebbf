import type { TokenSource } from './api-client.js';

/** A frame the server sends on a device subscription (the WebSocket API's events). */
export interface DeviceEvent {
  readonly event: 'connected' | 'subscribed' | 'unsubscribed' | 'disconnected' | 'call' | 'telemetry' | 'attributes';
  readonly deviceId: string;
  readonly transport?: string;
  readonly timestamp: number;
  readonly call?: { id?: number; rpcId?: string; method: string; oneway: boolean; status: string; error?: { code: string; message: string } };
  readonly telemetry?: Array<{ ts: number; values: Record<string, unknown> }>;
  readonly attributes?: { scope: string; values: Record<string, unknown> };
}

type Frame = Record<string, unknown> & { cmdId?: unknown };

/** The session state a session event leaves the device in; undefined for call and data events. */
export function sessionStateOf(event: DeviceEvent): string | undefined {
  switch (event.event) {
    case 'disconnected':
      return 'offline';
    case 'unsubscribed':
      return 'connected';
    case 'connected':
    case 'subscribed':
      return event.event;
    default:
      return undefined;
  }
}

export interface BulkResult {
  readonly deviceId: string;
  readonly status: number;
  readonly response?: unknown;
  readonly rpcId?: string;
  readonly error?: { code: string; message: string };
}

export interface BulkSummary {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
  readonly byCode: Record<string, number>;
}
type Listener = (event: DeviceEvent) => void;

/**
 * The WebSocket API (`/api/ws`) for pages: device subscriptions, each with its listeners, kept across reconnects
 * (the socket comes back after a second and subscribes again). One per page.
 */
export class AppSocket {
  #ws: WebSocket | undefined;
  #opening: Promise<WebSocket> | undefined;
  #next = 1;
  readonly #answers = new Map<number, { resolve: (frame: Frame) => void; reject: (error: Error) => void }>();
  /** Subscriptions by device: the cmdId the server knows them by, and their listeners. */
  readonly #devices = new Map<string, { cmdId: number; listeners: Set<Listener>; state?: string; transport?: string; since?: number }>();
  #closed = false;
  /** Bulk calls under way: each device's result goes to its listener. */
  readonly #bulks = new Map<number, (result: BulkResult) => void>();

  constructor(
    readonly baseUrl: string,
    readonly token: TokenSource,
  ) {}

  /** Calls `listener` with each event of the device; resolves with its state now. The function returned stops it. */
  async watch(deviceId: string, listener: Listener): Promise<{ state: string | undefined; transport?: string; since?: number; stop: () => void }> {
    let subscription = this.#devices.get(deviceId);
    if (subscription === undefined) {
      subscription = { cmdId: this.#next++, listeners: new Set() };
      this.#devices.set(deviceId, subscription);
      const answer = await this.#command({ cmdId: subscription.cmdId, type: 'subscribe', deviceId });
      const result = answer.result as { state?: string; transport?: string; since?: number } | undefined;
      subscription.state = result?.state;
      subscription.transport = result?.transport;
      subscription.since = result?.since;
    }
    subscription.listeners.add(listener);
    const known = subscription;
    return {
      state: known.state,
      ...(known.transport === undefined ? {} : { transport: known.transport, since: known.since }),
      stop: () => {
        known.listeners.delete(listener);
        if (known.listeners.size > 0 || this.#devices.get(deviceId) !== known) return;
        this.#devices.delete(deviceId);
        this.#send({ cmdId: known.cmdId, type: 'unsubscribe' }).catch(() => {});
      },
    };
  }

  /** One method to many devices (the `bulk` frame): each device's result as it comes, then the summary. */
  async bulk(body: Record<string, unknown>, onResult: (result: BulkResult) => void): Promise<BulkSummary> {
    const cmdId = this.#next++;
    this.#bulks.set(cmdId, onResult);
    try {
      const answer = await this.#command({ ...body, cmdId, type: 'bulk' });
      return (answer.result as { summary: BulkSummary }).summary;
    } finally {
      this.#bulks.delete(cmdId);
    }
  }

  /** A new token for the open socket (after a refresh). */
  async reauthenticate(token: string): Promise<void> {
    if (this.#ws?.readyState === WebSocket.OPEN) await this.#command({ cmdId: this.#next++, auth: { token } });
  }

  close(): void {
    this.#closed = true;
    this.#ws?.close();
  }

  async #socket(): Promise<WebSocket> {
    if (this.#ws?.readyState === WebSocket.OPEN) return this.#ws;
    this.#opening ??= (async () => {
      const token = typeof this.token === 'string' ? this.token : await this.token();
      const url = new URL(`api/ws?token=${encodeURIComponent(token)}`, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error('the WebSocket API cannot be reached'));
      });
      ws.onmessage = (message) => this.#receive(JSON.parse(String(message.data)) as Frame);
      ws.onclose = () => this.#lost(ws);
      this.#ws = ws;
      return ws;
    })().finally(() => (this.#opening = undefined));
    return this.#opening;
  }

  async #send(frame: Frame): Promise<void> {
    (await this.#socket()).send(JSON.stringify(frame));
  }

  #command(frame: Frame): Promise<Frame> {
    return new Promise((resolve, reject) => {
      this.#answers.set(frame.cmdId as number, { resolve, reject });
      this.#send(frame).catch(reject);
    });
  }

  #receive(frame: Frame): void {
    if (frame.event === 'bulkResult') return this.#bulks.get(frame.cmdId as number)?.(frame as unknown as BulkResult);
    if ('event' in frame) {
      for (const subscription of this.#devices.values()) {
        if (subscription.cmdId !== frame.cmdId) continue;
        const event = frame as unknown as DeviceEvent;
        subscription.state = sessionStateOf(event) ?? subscription.state;
        for (const listener of subscription.listeners) listener(event);
      }
      return;
    }
    const waiting = this.#answers.get(frame.cmdId as number);
    if (waiting === undefined) return;
    this.#answers.delete(frame.cmdId as number);
    if ('error' in frame) waiting.reject(new Error((frame.error as { message: string }).message));
    else waiting.resolve(frame);
  }

  /** The socket went: every subscription is made again on a new one. */
  #lost(ws: WebSocket): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    for (const { reject } of this.#answers.values()) reject(new Error('the WebSocket API connection closed'));
    this.#answers.clear();
    if (this.#closed) return;
    setTimeout(() => {
      for (const [deviceId, subscription] of this.#devices) {
        subscription.cmdId = this.#next++;
        this.#command({ cmdId: subscription.cmdId, type: 'subscribe', deviceId }).catch(() => {});
      }
    }, 1000);
  }
}
