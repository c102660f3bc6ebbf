import { LitElement, css, html } from 'lit';
import { sessionStateOf, type AppSocket, type DeviceEvent } from '../app-socket.js';
import type { Session } from '../session.js';
import { deviceListPath } from './device-choices.js';
import { badgeStyles, since, stateBadge } from './state-badge.js';

interface DeviceRow {
  id: { id: string };
  name: string;
  type: string;
  state: string;
}

interface Live {
  state: string;
  transport?: string;
  since?: number;
}

const PAGE_SIZE = 20;

/** The caller's devices, a page at a time, searched by name, each with its live session state (WebSocket API). */
export class DevicesView extends LitElement {
  static override properties = { session: { attribute: false }, socket: { attribute: false }, rows: { state: true }, live: { state: true }, page: { state: true }, totalPages: { state: true }, search: { state: true }, error: { state: true } };
  static override styles = [
    badgeStyles,
    css`
      :host { display: block; font: 14px system-ui, sans-serif; }
      .bar { display: flex; gap: 8px; align-items: center; margin-bottom: 12px; flex-wrap: wrap; }
      input { font: inherit; padding: 7px 9px; border: 1px solid #98a2b3; border-radius: 6px; min-width: 200px; }
      table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #d5dbe1; border-radius: 8px; }
      th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid #eaecf0; }
      th { font-size: 12px; text-transform: uppercase; color: #667085; }
      a { color: #1570ef; text-decoration: none; font-weight: 600; }
      .muted { color: #667085; font-size: 12px; }
      .error { color: #b42318; }
      button { font: inherit; padding: 6px 10px; border: 1px solid #98a2b3; border-radius: 6px; background: #fff; cursor: pointer; }
      @media (max-width: 600px) { .type, .transport { display: none; } }
    `,
  ];

  session!: Session;
  socket!: AppSocket;
  rows: DeviceRow[] = [];
  live: Record<string, Live> = {};
  page = 0;
  totalPages = 0;
  search = '';
  error = '';
  #watches: Array<() => void> = [];

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#unwatch();
  }

  #unwatch(): void {
    for (const stop of this.#watches) stop();
    this.#watches = [];
  }

  async #load(): Promise<void> {
    const base = deviceListPath(this.session.principal!);
    const query = `?pageSize=${PAGE_SIZE}&page=${this.page}${this.search === '' ? '' : `&textSearch=${encodeURIComponent(this.search)}`}`;
    try {
      const result = await this.session.api.request<{ data: DeviceRow[]; totalPages: number }>('GET', base + query);
      this.rows = result.data;
      this.totalPages = result.totalPages;
      this.error = '';
    } catch (error) {
      this.rows = [];
      this.error = (error as Error).message;
      return;
    }
    this.#unwatch();
    const live: Record<string, Live> = {};
    for (const row of this.rows) live[row.id.id] = { state: row.state };
    this.live = live;
    for (const row of this.rows) {
      const deviceId = row.id.id;
      this.socket
        .watch(deviceId, (event) => this.#event(deviceId, event))
        .then(({ stop, state, transport, since }) => {
          this.#watches.push(stop);
          if (state !== undefined && this.live[deviceId]?.since === undefined) this.live = { ...this.live, [deviceId]: { state, transport, since } };
        })
        .catch(() => {});
    }
  }

  #event(deviceId: string, event: DeviceEvent): void {
    const state = sessionStateOf(event);
    if (state === undefined) return;
    this.live = { ...this.live, [deviceId]: { state, transport: event.transport, since: event.timestamp } };
  }

  #searchNow(event: Event): void {
    event.preventDefault();
    this.search = (this.renderRoot.querySelector('input') as HTMLInputElement).value.trim();
    this.page = 0;
    void this.#load();
  }

  #go(page: number): void {
    this.page = page;
    void this.#load();
  }

  override render() {
    return html`
      <form class="bar" @submit=${this.#searchNow} role="search">
        <input type="search" placeholder="Search by name" aria-label="Search devices by name" .value=${this.search} />
        <button type="submit">Search</button>
        <span class="muted">${this.totalPages === 0 ? 'no devices' : `page ${this.page + 1} of ${this.totalPages}`}</span>
        <button type="button" ?disabled=${this.page === 0} @click=${() => this.#go(this.page - 1)}>Previous</button>
        <button type="button" ?disabled=${this.page + 1 >= this.totalPages} @click=${() => this.#go(this.page + 1)}>Next</button>
      </form>
      ${this.error === '' ? '' : html`<p class="error" role="alert">${this.error}</p>`}
      <table>
        <thead><tr><th>Device</th><th class="type">Type</th><th>State</th><th class="transport">Transport</th></tr></thead>
        <tbody>
          ${this.rows.map((row) => {
            const live = this.live[row.id.id];
            return html`<tr data-device=${row.id.id}>
              <td><a href="#/device/${encodeURIComponent(row.id.id)}">${row.name}</a></td>
              <td class="type">${row.type}</td>
              <td>${stateBadge(live?.state)} <span class="muted">${since(live?.since)}</span></td>
              <td class="transport">${live?.transport ?? ''}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    `;
  }
}
