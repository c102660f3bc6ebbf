import { LitElement, css } from 'lit';
import { ApiClient, type TokenSource } from '../api-client.js';
import { describeFailure, describeReply, type CallOutcome } from '../call-outcome.js';

/** The REST API raises a shorter timeout to this (ThingsBoard's min_timeout). */
const MIN_TIMEOUT_MS = 5000;

export interface WidgetCall {
  readonly value?: unknown;
  readonly outcome: CallOutcome;
}

/**
 * What every RPC widget shares: the device it controls (`device`), the server (`server`, this page's origin when
 * absent), the JWT (`token` attribute, or a `tokenProvider` property for an application that refreshes its own), and
 * calls through `POST /api/rpc/{oneway|twoway}/{device}` whose outcome reads as a person would want.
 */
export abstract class RpcWidget extends LitElement {
  static override properties = {
    device: { type: String },
    server: { type: String },
    token: { type: String },
    timeout: { type: Number },
    tokenProvider: { attribute: false },
  };

  static baseStyles = css`
    :host { display: block; font: 14px/1.4 system-ui, sans-serif; color: #1f2933; border: 1px solid #d5dbe1; border-radius: 8px; padding: 12px; background: #fff; box-sizing: border-box; }
    h3 { margin: 0 0 8px; font-size: 15px; font-weight: 600; }
    .status { margin-top: 8px; min-height: 1.4em; font-size: 13px; }
    .status.error { color: #b42318; }
    .status.ok { color: #067647; }
    button { font: inherit; cursor: pointer; }
    button:focus-visible, input:focus-visible { outline: 3px solid #2e90fa; outline-offset: 1px; }
  `;

  device = '';
  server = '';
  token = '';
  timeout = 10_000;
  tokenProvider: (() => string | Promise<string>) | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.load();
  }

  /** Another device: the widget reads it afresh. */
  protected override updated(changed: Map<PropertyKey, unknown>): void {
    if (changed.has('device') && changed.get('device') !== undefined) this.load();
  }

  /** Reads the device's state for the widget (on connect, and when `device` changes). */
  protected load(): void {}

  protected get api(): ApiClient {
    const source: TokenSource = this.tokenProvider ?? this.token;
    return new ApiClient(this.server || location.origin, source);
  }

  /** A call to the device; a reply `{"error":…}` (the device's own refusal) reads as a failure. */
  protected async call(method: string, params: unknown, oneway = false): Promise<WidgetCall> {
    const started = performance.now();
    const waited = Math.max(MIN_TIMEOUT_MS, this.timeout);
    try {
      const value = await this.api.request<unknown>('POST', `/api/rpc/${oneway ? 'oneway' : 'twoway'}/${encodeURIComponent(this.device)}`, { method, params, timeout: this.timeout });
      const ms = Math.round(performance.now() - started);
      const refusal = typeof value === 'object' && value !== null && 'error' in value ? String((value as { error: unknown }).error) : undefined;
      if (refusal !== undefined) return { value, outcome: { ok: false, title: 'Device refused', detail: refusal, ms } };
      return { value, outcome: describeReply(oneway, ms) };
    } catch (error) {
      return { outcome: describeFailure(error, Math.round(performance.now() - started), waited) };
    }
  }
}
