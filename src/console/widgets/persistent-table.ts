import { css, html } from 'lit';
import { AppSocket, type DeviceEvent } from '../app-socket.js';
import { RpcWidget } from './rpc-widget.js';

interface StoredCall {
  id: string;
  createdTime: number;
  expirationTime: number;
  status: string;
  request: { method: string; params: unknown; oneway: boolean; timeout: number; retries: number };
  response: unknown;
}

const STATUSES = ['', 'QUEUED', 'SENT', 'DELIVERED', 'SUCCESSFUL', 'TIMEOUT', 'EXPIRED', 'FAILED'];
const PAGE_SIZE = 10;

/**
 * A device's persistent calls: paged, filtered by status, sorted; statuses change live over the WebSocket API (no
 * polling). Add a call, send one again, delete one. `<iot-rpc-persistent-table device="…">`.
 */
export class PersistentTable extends RpcWidget {
  static override properties = { ...RpcWidget.properties, socket: { attribute: false }, calls: { state: true }, page: { state: true }, totalPages: { state: true }, status: { state: true }, order: { state: true }, message: { state: true } };
  static override styles = [
    RpcWidget.baseStyles,
    css`
      .bar { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin-bottom: 8px; }
      select, input, .bar button, td button { font: inherit; padding: 4px 8px; border: 1px solid #98a2b3; border-radius: 6px; background: #fff; }
      table { width: 100%; border-collapse: collapse; font-size: 13px; }
      th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eaecf0; }
      .SUCCESSFUL, .DELIVERED { color: #067647; font-weight: 600; }
      .QUEUED, .SENT { color: #b54708; font-weight: 600; }
      .TIMEOUT, .EXPIRED, .FAILED { color: #b42318; font-weight: 600; }
      form { display: flex; gap: 6px; flex-wrap: wrap; margin-top: 8px; }
    `,
  ];

  socket: AppSocket | undefined;
  calls: StoredCall[] = [];
  page = 0;
  totalPages = 0;
  status = '';
  order: 'DESC' | 'ASC' = 'DESC';
  message = '';
  #stop: (() => void) | undefined;

  protected override load(): void {
    this.#stop?.();
    this.page = 0;
    void this.#load();
    const socket = (this.socket ??= new AppSocket(this.server || location.origin, this.tokenProvider ?? this.token));
    socket
      .watch(this.device, (event) => this.#event(event))
      .then(({ stop }) => (this.#stop = stop))
      .catch((error: unknown) => (this.message = `Live statuses unavailable: ${(error as Error).message}`));
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#stop?.();
  }

  async #load(): Promise<void> {
    const query = `pageSize=${PAGE_SIZE}&page=${this.page}&sortProperty=createdTime&sortOrder=${this.order}${this.status === '' ? '' : `&rpcStatus=${this.status}`}`;
    try {
      const result = await this.api.request<{ data: StoredCall[]; totalPages: number }>('GET', `/api/rpc/persistent/device/${encodeURIComponent(this.device)}?${query}`);
      this.calls = result.data;
      this.totalPages = result.totalPages;
    } catch (error) {
      this.message = (error as Error).message;
    }
  }

  /** A stored status was written: the row changes in place; a call not on this page reloads it. */
  #event(event: DeviceEvent): void {
    const rpcId = event.call?.rpcId;
    if (event.event !== 'call' || rpcId === undefined) return;
    const known = this.calls.find((call) => call.id === rpcId);
    if (known === undefined) return void this.#load();
    this.calls = this.calls.map((call) => (call.id === rpcId ? { ...call, status: event.call!.status } : call));
    if (this.status !== '' && event.call!.status !== this.status) void this.#load();
  }

  async #add(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    let params: unknown = {};
    try {
      const text = String(data.get('params') ?? '').trim();
      if (text !== '') params = JSON.parse(text);
    } catch {
      this.message = 'params must be JSON';
      return;
    }
    await this.#submit(String(data.get('method')), params, data.get('oneway') === 'on', Number(data.get('hours') || 24) * 3_600_000);
  }

  async #submit(method: string, params: unknown, oneway: boolean, waitMs: number): Promise<void> {
    try {
      const { rpcId } = await this.api.request<{ rpcId: string }>('POST', `/api/rpc/${oneway ? 'oneway' : 'twoway'}/${encodeURIComponent(this.device)}`, { method, params, persistent: true, timeout: this.timeout, expirationTime: Date.now() + waitMs });
      this.message = `Stored ${rpcId}`;
      await this.#load();
    } catch (error) {
      this.message = (error as Error).message;
    }
  }

  async #delete(call: StoredCall): Promise<void> {
    try {
      await this.api.request('DELETE', `/api/rpc/persistent/${encodeURIComponent(call.id)}`);
      await this.#load();
    } catch (error) {
      this.message = (error as Error).message;
    }
  }

  #set(change: () => void): void {
    change();
    void this.#load();
  }

  override render() {
    return html`
      <h3>Persistent calls</h3>
      <div class="bar">
        <label>Status <select aria-label="status filter" @change=${(e: Event) => this.#set(() => ((this.status = (e.target as HTMLSelectElement).value), (this.page = 0)))}>${STATUSES.map((s) => html`<option value=${s} ?selected=${s === this.status}>${s || 'any'}</option>`)}</select></label>
        <button @click=${() => this.#set(() => (this.order = this.order === 'DESC' ? 'ASC' : 'DESC'))}>${this.order === 'DESC' ? 'Newest first' : 'Oldest first'}</button>
        <button ?disabled=${this.page === 0} @click=${() => this.#set(() => this.page--)}>Previous</button>
        <span>${this.totalPages === 0 ? 'none' : `${this.page + 1} / ${this.totalPages}`}</span>
        <button ?disabled=${this.page + 1 >= this.totalPages} @click=${() => this.#set(() => this.page++)}>Next</button>
      </div>
      <table>
        <thead><tr><th>Method</th><th>Status</th><th>Created</th><th></th></tr></thead>
        <tbody>
          ${this.calls.map(
            (call) => html`<tr data-rpc=${call.id}>
              <td>${call.request.method}</td>
              <td class=${call.status} data-status>${call.status}</td>
              <td>${new Date(call.createdTime).toLocaleTimeString()}</td>
              <td>
                <button aria-label="send ${call.request.method} again" @click=${() => this.#submit(call.request.method, call.request.params, call.request.oneway, Math.max(60_000, call.expirationTime - call.createdTime))}>Resend</button>
                <button aria-label="delete ${call.request.method}" @click=${() => this.#delete(call)}>Delete</button>
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
      <form @submit=${this.#add} aria-label="new persistent call">
        <input name="method" placeholder="method" aria-label="method" required />
        <input name="params" placeholder='{"params"}' aria-label="params" />
        <input name="hours" type="number" min="1" value="24" aria-label="wait for the device, hours" style="width:5em" />
        <label><input name="oneway" type="checkbox" /> one-way</label>
        <button type="submit">Add</button>
      </form>
      <div class="status" role="status">${this.message}</div>
    `;
  }
}
