import { LitElement, css, html } from 'lit';
import { sessionStateOf, type AppSocket, type DeviceEvent } from '../app-socket.js';
import type { Session } from '../session.js';
import { badgeStyles, since, stateBadge } from './state-badge.js';

interface Device {
  name: string;
  type: string;
  state: string;
}

interface TimelineEntry {
  readonly key: string;
  readonly method: string;
  readonly statuses: Array<{ status: string; at: number; error?: string }>;
}

const MAX_CALLS_SHOWN = 20;

/**
 * One device: its live state, every widget for it, its latest telemetry and attributes (live), and the timeline of
 * each call (queued → sent → delivered → replied / error) from the WebSocket API's call events.
 */
export class DeviceView extends LitElement {
  static override properties = {
    session: { attribute: false },
    socket: { attribute: false },
    deviceId: { type: String },
    device: { state: true },
    live: { state: true },
    telemetry: { state: true },
    deviceAttributes: { state: true },
    timeline: { state: true },
    error: { state: true },
  };
  static override styles = [
    badgeStyles,
    css`
      :host { display: block; font: 14px system-ui, sans-serif; }
      header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; margin-bottom: 12px; }
      h2 { margin: 0; font-size: 20px; }
      .muted { color: #667085; font-size: 12px; }
      .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
      section { background: #fff; border: 1px solid #d5dbe1; border-radius: 8px; padding: 12px; }
      h3 { margin: 0 0 8px; font-size: 15px; }
      table { width: 100%; border-collapse: collapse; font-size: 13px; }
      td { padding: 3px 6px; border-bottom: 1px solid #eaecf0; vertical-align: top; word-break: break-word; }
      ol { margin: 0; padding-left: 18px; font-size: 13px; }
      .step { display: inline-block; margin-right: 4px; padding: 0 6px; border-radius: 8px; background: #eef4ff; color: #3538cd; }
      .step.replied, .step.delivered-final { background: #d1fadf; color: #05603a; }
      .step.timeout, .step.failed, .step.expired, .step.deleted { background: #fee4e2; color: #b42318; }
      .error { color: #b42318; }
      a { color: #1570ef; }
    `,
  ];

  session!: Session;
  socket!: AppSocket;
  deviceId = '';
  device: Device | null = null;
  live: { state: string; transport?: string; since?: number } = { state: 'offline' };
  telemetry: Record<string, { ts: number; value: unknown }> = {};
  deviceAttributes: Record<string, { scope: string; ts: number; value: unknown }> = {};
  timeline: TimelineEntry[] = [];
  error = '';
  #stop: (() => void) | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#stop?.();
  }

  async #load(): Promise<void> {
    const id = encodeURIComponent(this.deviceId);
    try {
      this.device = await this.session.api.request<Device>('GET', `/api/device/${id}`);
    } catch (error) {
      this.error = (error as Error).message;
      return;
    }
    this.live = { state: this.device.state };
    const [latest, attributes] = await Promise.all([
      this.session.api.request<Record<string, Array<{ ts: number; value: unknown }>>>('GET', `/api/plugins/telemetry/DEVICE/${id}/values/timeseries`).catch(() => ({})),
      this.session.api.request<Array<{ key: string; value: unknown; lastUpdateTs: number }>>('GET', `/api/plugins/telemetry/DEVICE/${id}/values/attributes`).catch(() => []),
    ]);
    this.telemetry = Object.fromEntries(Object.entries(latest).map(([key, [first]]) => [key, first!]));
    this.deviceAttributes = Object.fromEntries(attributes.map(({ key, value, lastUpdateTs }) => [key, { scope: '', ts: lastUpdateTs, value }]));
    const { stop, state, transport, since } = await this.socket.watch(this.deviceId, (event) => this.#event(event));
    this.#stop = stop;
    if (state !== undefined && this.live.since === undefined) this.live = { state, transport, since };
  }

  #event(event: DeviceEvent): void {
    switch (event.event) {
      case 'telemetry': {
        const next = { ...this.telemetry };
        for (const { ts, values } of event.telemetry ?? []) for (const [key, value] of Object.entries(values)) if ((next[key]?.ts ?? -1) <= ts) next[key] = { ts, value };
        this.telemetry = next;
        return;
      }
      case 'attributes': {
        const next = { ...this.deviceAttributes };
        for (const [key, value] of Object.entries(event.attributes?.values ?? {})) next[key] = { scope: event.attributes!.scope, ts: event.timestamp, value };
        this.deviceAttributes = next;
        return;
      }
      case 'call': {
        const call = event.call!;
        const key = call.rpcId ?? String(call.id);
        const entries = [...this.timeline];
        let entry = entries.find((e) => e.key === key);
        if (entry === undefined) entries.unshift((entry = { key, method: call.method, statuses: [] }));
        entry.statuses.push({ status: call.status, at: event.timestamp, ...(call.error === undefined ? {} : { error: call.error.code }) });
        this.timeline = entries.slice(0, MAX_CALLS_SHOWN);
        return;
      }
      default:
        this.live = { state: sessionStateOf(event)!, transport: event.transport, since: event.timestamp };
    }
  }

  override render() {
    if (this.error !== '') return html`<p class="error" role="alert">${this.error}</p><a href="#/devices">Back to the devices</a>`;
    if (this.device === null) return html`<p>Loading…</p>`;
    const token = () => this.session.token;
    const entries = (values: Record<string, { ts: number; value: unknown }>) =>
      Object.keys(values).length === 0 ? html`<p class="muted">none yet</p>` : html`<table>${Object.entries(values).map(([key, { ts, value }]) => html`<tr><td>${key}</td><td>${JSON.stringify(value)}</td><td class="muted">${new Date(ts).toLocaleTimeString()}</td></tr>`)}</table>`;
    return html`
      <header>
        <h2>${this.device.name}</h2>
        ${stateBadge(this.live.state)}
        <span class="muted">${this.live.transport ?? ''} ${since(this.live.since)}</span>
        <span class="muted">type ${this.device.type}</span>
      </header>
      <div class="grid">
        <iot-rpc-gpio .device=${this.deviceId} .tokenProvider=${token}></iot-rpc-gpio>
        <iot-rpc-terminal .device=${this.deviceId} .tokenProvider=${token}></iot-rpc-terminal>
        <iot-rpc-switch .device=${this.deviceId} .tokenProvider=${token}></iot-rpc-switch>
        <iot-rpc-knob .device=${this.deviceId} .tokenProvider=${token}></iot-rpc-knob>
        <iot-rpc-led .device=${this.deviceId} .tokenProvider=${token}></iot-rpc-led>
        <iot-rpc-button .device=${this.deviceId} .tokenProvider=${token} method="setState" fields="mode" label="Set state"></iot-rpc-button>
        <iot-rpc-persistent-table .device=${this.deviceId} .tokenProvider=${token} .socket=${this.socket}></iot-rpc-persistent-table>
        <section><h3>Latest telemetry</h3>${entries(this.telemetry)}</section>
        <section><h3>Attributes</h3>${entries(this.deviceAttributes)}</section>
        <section aria-label="Calls">
          <h3>Calls</h3>
          ${this.timeline.length === 0
            ? html`<p class="muted">Calls to this device appear here as they happen.</p>`
            : html`<ol>${this.timeline.map((entry) => html`<li data-call=${entry.key}><strong>${entry.method}</strong> ${entry.statuses.map((s) => html`<span class="step ${s.status}">${s.status}${s.error === undefined ? '' : ` (${s.error})`}</span>`)}</li>`)}</ol>`}
        </section>
      </div>
    `;
  }
}
