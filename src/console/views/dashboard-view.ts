import { LitElement, css, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { unsafeStatic, html as staticHtml } from 'lit/static-html.js';
import type { AppSocket } from '../app-socket.js';
import type { Session } from '../session.js';
import { deviceChoices, type DeviceChoice } from './device-choices.js';

/** Widgets a dashboard may hold, by the element that draws them. */
export const WIDGETS = {
  gpio: 'iot-rpc-gpio',
  switch: 'iot-rpc-switch',
  knob: 'iot-rpc-knob',
  led: 'iot-rpc-led',
  terminal: 'iot-rpc-terminal',
  persistent: 'iot-rpc-persistent-table',
} as const;
export type WidgetKind = keyof typeof WIDGETS;

export interface Tile {
  readonly id: string;
  readonly widget: WidgetKind;
  readonly device: string;
}

/** A layout as the browser keeps it and as it is exported: `{"version":1,"tiles":[{"id","widget","device"}]}`. */
export function parseLayout(text: string): Tile[] {
  const value = JSON.parse(text) as { version?: unknown; tiles?: unknown };
  if (value.version !== 1 || !Array.isArray(value.tiles)) throw new Error('expected {"version":1,"tiles":[…]}');
  return value.tiles.map((tile: unknown, i) => {
    const { id, widget, device } = (tile ?? {}) as Record<string, unknown>;
    if (typeof widget !== 'string' || !(widget in WIDGETS)) throw new Error(`tile ${i}: widget must be one of ${Object.keys(WIDGETS).join(', ')}`);
    if (typeof device !== 'string' || device === '') throw new Error(`tile ${i}: device must be a device id`);
    return { id: typeof id === 'string' && id !== '' ? id : crypto.randomUUID(), widget: widget as WidgetKind, device };
  });
}

/**
 * The user's dashboard: widgets for several devices, arranged by moving them, kept in this browser (localStorage,
 * per user), exported and imported as JSON.
 */
export class DashboardView extends LitElement {
  static override properties = { session: { attribute: false }, socket: { attribute: false }, tiles: { state: true }, devices: { state: true }, message: { state: true } };
  static override styles = css`
    :host { display: block; font: 14px system-ui, sans-serif; }
    form, .io { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin-bottom: 12px; }
    select, button, textarea { font: inherit; padding: 6px 8px; border: 1px solid #98a2b3; border-radius: 6px; background: #fff; }
    textarea { width: 100%; min-height: 70px; font: 12px ui-monospace, monospace; box-sizing: border-box; }
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
    .tile { display: grid; gap: 6px; align-content: start; }
    .tools { display: flex; gap: 6px; align-items: center; font-size: 12px; color: #667085; }
    .tools span { margin-right: auto; }
    .message { color: #b42318; }
  `;

  session!: Session;
  socket!: AppSocket;
  tiles: Tile[] = [];
  devices: DeviceChoice[] = [];
  message = '';

  get #storageKey(): string {
    return `iot-rpc-console-dashboard:${this.session.principal?.email ?? ''}`;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    const kept = localStorage.getItem(this.#storageKey);
    try {
      this.tiles = kept === null ? [] : parseLayout(kept);
    } catch {
      this.tiles = [];
    }
    deviceChoices(this.session).then((devices) => (this.devices = devices), (error: unknown) => (this.message = (error as Error).message));
  }

  #save(tiles: Tile[]): void {
    this.tiles = tiles;
    localStorage.setItem(this.#storageKey, this.#export());
  }

  #export(): string {
    return JSON.stringify({ version: 1, tiles: this.tiles.map(({ id, widget, device }) => ({ id, widget, device })) });
  }

  #add(event: SubmitEvent): void {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    this.#save([...this.tiles, { id: crypto.randomUUID(), widget: String(data.get('widget')) as WidgetKind, device: String(data.get('device')) }]);
  }

  #move(index: number, by: number): void {
    const tiles = [...this.tiles];
    const [tile] = tiles.splice(index, 1);
    tiles.splice(Math.max(0, Math.min(tiles.length, index + by)), 0, tile!);
    this.#save(tiles);
  }

  #import(): void {
    const text = (this.renderRoot.querySelector('textarea') as HTMLTextAreaElement).value;
    try {
      this.#save(parseLayout(text));
      this.message = '';
    } catch (error) {
      this.message = `Not imported: ${(error as Error).message}`;
    }
  }

  #name(deviceId: string): string {
    return this.devices.find((device) => device.id === deviceId)?.name ?? deviceId;
  }

  override render() {
    const token = () => this.session.token;
    return html`
      <form @submit=${this.#add} aria-label="add a widget">
        <select name="widget" aria-label="widget">${Object.keys(WIDGETS).map((kind) => html`<option value=${kind}>${kind}</option>`)}</select>
        <select name="device" aria-label="device" required>${this.devices.map((device) => html`<option value=${device.id}>${device.name}</option>`)}</select>
        <button type="submit">Add widget</button>
      </form>
      <div class="grid">
        ${this.tiles.map((tile, index) =>
          keyed(
            tile.id,
            html`<div class="tile" data-tile=${tile.id}>
              <div class="tools">
                <span>${tile.widget} · ${this.#name(tile.device)}</span>
                <button aria-label="move ${tile.widget} earlier" ?disabled=${index === 0} @click=${() => this.#move(index, -1)}>←</button>
                <button aria-label="move ${tile.widget} later" ?disabled=${index === this.tiles.length - 1} @click=${() => this.#move(index, 1)}>→</button>
                <button aria-label="remove ${tile.widget}" @click=${() => this.#save(this.tiles.filter((t) => t.id !== tile.id))}>Remove</button>
              </div>
              ${staticHtml`<${unsafeStatic(WIDGETS[tile.widget])} .device=${tile.device} .tokenProvider=${token} .socket=${this.socket}></${unsafeStatic(WIDGETS[tile.widget])}>`}
            </div>`,
          ),
        )}
      </div>
      <h3>Layout</h3>
      <div class="io">
        <textarea aria-label="layout JSON" .value=${this.#export()}></textarea>
        <button @click=${() => this.#import()}>Import</button>
        <a download="iot-rpc-dashboard.json" href=${`data:application/json,${encodeURIComponent(this.#export())}`}>Export</a>
      </div>
      <p class="message" role="alert">${this.message}</p>
    `;
  }
}
