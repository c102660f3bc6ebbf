import { LitElement, css, html } from 'lit';
import type { AppSocket, BulkResult, BulkSummary } from '../app-socket.js';
import type { Session } from '../session.js';
import { deviceChoices, type DeviceChoice } from './device-choices.js';

/** One method to a chosen set of devices: each device's result as it streams in (the WebSocket `bulk` frame), then the summary. */
export class BulkView extends LitElement {
  static override properties = { session: { attribute: false }, socket: { attribute: false }, devices: { state: true }, results: { state: true }, summary: { state: true }, running: { state: true }, message: { state: true } };
  static override styles = css`
    :host { display: block; font: 14px system-ui, sans-serif; }
    form { display: grid; gap: 10px; background: #fff; border: 1px solid #d5dbe1; border-radius: 8px; padding: 12px; margin-bottom: 12px; }
    fieldset { border: 1px solid #eaecf0; border-radius: 6px; display: flex; flex-wrap: wrap; gap: 4px 14px; max-height: 180px; overflow: auto; }
    .row { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
    input[type='text'], input[type='number'] { font: inherit; padding: 6px 8px; border: 1px solid #98a2b3; border-radius: 6px; }
    button { font: inherit; padding: 7px 12px; border-radius: 6px; border: 1px solid #98a2b3; background: #fff; cursor: pointer; }
    button[type='submit'] { background: #1570ef; color: #fff; border-color: #1570ef; }
    table { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px; }
    th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaecf0; word-break: break-word; }
    td:nth-child(-n + 2), th { white-space: nowrap; word-break: normal; }
    .ok { color: #067647; font-weight: 600; }
    .failed { color: #b42318; font-weight: 600; }
  `;

  session!: Session;
  socket!: AppSocket;
  devices: DeviceChoice[] = [];
  results: BulkResult[] = [];
  summary: BulkSummary | null = null;
  running = false;
  message = '';

  override connectedCallback(): void {
    super.connectedCallback();
    deviceChoices(this.session).then((devices) => (this.devices = devices), (error: unknown) => (this.message = (error as Error).message));
  }

  async #send(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    const deviceIds = data.getAll('device').map(String);
    if (deviceIds.length === 0) return void (this.message = 'Choose at least one device.');
    let params: unknown = {};
    try {
      const text = String(data.get('params') ?? '').trim();
      if (text !== '') params = JSON.parse(text);
    } catch {
      return void (this.message = 'params must be JSON');
    }
    this.message = '';
    this.results = [];
    this.summary = null;
    this.running = true;
    try {
      this.summary = await this.socket.bulk({ deviceIds, method: String(data.get('method')), params, oneway: data.get('oneway') === 'on', timeout: Number(data.get('timeout') || 10_000) }, (result) => (this.results = [...this.results, result]));
    } catch (error) {
      this.message = (error as Error).message;
    } finally {
      this.running = false;
    }
  }

  #all(checked: boolean): void {
    for (const box of this.renderRoot.querySelectorAll<HTMLInputElement>('input[name=device]')) box.checked = checked;
  }

  #name(deviceId: string): string {
    return this.devices.find((device) => device.id === deviceId)?.name ?? deviceId;
  }

  override render() {
    return html`
      <form @submit=${this.#send} aria-label="bulk call">
        <fieldset aria-label="devices">
          <legend>Devices <button type="button" @click=${() => this.#all(true)}>all</button> <button type="button" @click=${() => this.#all(false)}>none</button></legend>
          ${this.devices.map((device) => html`<label><input type="checkbox" name="device" value=${device.id} /> ${device.name}</label>`)}
        </fieldset>
        <div class="row">
          <input type="text" name="method" aria-label="method" placeholder="method" required />
          <input type="text" name="params" aria-label="params" placeholder='{"params"}' />
          <label><input type="checkbox" name="oneway" /> one-way</label>
          <label>timeout ms <input type="number" name="timeout" min="5000" value="10000" style="width:7em" /></label>
          <button type="submit" ?disabled=${this.running}>${this.running ? 'Calling…' : 'Call all'}</button>
        </div>
        <div role="alert">${this.message}</div>
      </form>
      ${this.summary === null ? (this.running ? html`<p>${this.results.length} answered so far…</p>` : '') : html`<p data-summary>${this.summary.ok} of ${this.summary.total} ok, ${this.summary.failed} failed ${Object.entries(this.summary.byCode).map(([code, n]) => `· ${code} ${n}`).join(' ')}</p>`}
      <table>
        <thead><tr><th>Device</th><th>Status</th><th>Answer</th></tr></thead>
        <tbody>
          ${this.results.map((result) => html`<tr data-result=${result.deviceId}><td>${this.#name(result.deviceId)}</td><td class=${result.error === undefined ? 'ok' : 'failed'}>${result.status}</td><td>${result.error === undefined ? JSON.stringify(result.response ?? result.rpcId ?? 'delivered') : `${result.error.code}: ${result.error.message}`}</td></tr>`)}
        </tbody>
      </table>
    `;
  }
}
