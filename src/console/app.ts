import { LitElement, css, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { AppSocket } from './app-socket.js';
import { Session } from './session.js';
import { BulkView } from './views/bulk-view.js';
import { DashboardView } from './views/dashboard-view.js';
import { DeviceView } from './views/device-view.js';
import { DevicesView } from './views/devices-view.js';
import { LoginView } from './views/login-view.js';
import './widgets/index.js';

/**
 * The web console (served at `/`): log in, then the devices (`#/devices`), one device with its widgets
 * (`#/device/{id}`), a dashboard of widgets for several devices (`#/dashboard`) and bulk calls (`#/bulk`). Every view asks the REST and WebSocket APIs, so it sees exactly what the user may: a customer
 * user its customer's devices, a system administrator no devices and no RPC controls.
 */
export class ConsoleApp extends LitElement {
  static override properties = { route: { state: true }, principal: { state: true } };
  static override styles = css`
    :host { display: block; font: 14px system-ui, sans-serif; color: #1f2933; min-height: 100vh; }
    header { display: flex; gap: 12px; align-items: center; padding: 10px 16px; background: #101828; color: #fff; flex-wrap: wrap; }
    header strong { font-size: 16px; margin-right: 8px; }
    header a { color: #b2ddff; text-decoration: none; }
    header a[aria-current='page'] { color: #fff; text-decoration: underline; }
    .who { margin-left: auto; font-size: 13px; color: #d0d5dd; }
    header button { font: inherit; padding: 4px 10px; border-radius: 6px; border: 1px solid #475467; background: transparent; color: #fff; cursor: pointer; }
    main { padding: 16px; max-width: 1200px; margin: 0 auto; }
    .note { background: #fff; border: 1px solid #d5dbe1; border-radius: 8px; padding: 16px; }
  `;

  readonly session = new Session(location.origin);
  #socket: AppSocket | undefined;
  route = location.hash;
  principal = this.session.principal;

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', () => (this.route = location.hash));
    this.session.addEventListener('change', () => {
      const before = this.principal;
      this.principal = this.session.principal;
      if (this.principal === null) {
        this.#socket?.close();
        this.#socket = undefined;
      } else if (before !== null) {
        void this.#socket?.reauthenticate(this.session.token);
      }
    });
  }

  get #appSocket(): AppSocket {
    return (this.#socket ??= new AppSocket(location.origin, () => this.session.token));
  }

  override render() {
    const principal = this.principal;
    if (principal === null) return html`<iot-rpc-login .session=${this.session}></iot-rpc-login>`;
    const device = /^#\/device\/(.+)$/.exec(this.route);
    const view = device !== null ? 'device' : this.route === '#/dashboard' ? 'dashboard' : this.route === '#/bulk' ? 'bulk' : 'devices';
    return html`
      <header>
        <strong>iot-rpc</strong>
        <a href="#/devices" aria-current=${view === 'devices' ? 'page' : 'false'}>Devices</a>
        <a href="#/dashboard" aria-current=${view === 'dashboard' ? 'page' : 'false'}>Dashboard</a>
        <a href="#/bulk" aria-current=${view === 'bulk' ? 'page' : 'false'}>Bulk</a>
        <span class="who" data-role=${principal.role}>${principal.email} · ${principal.role}</span>
        <button @click=${() => this.session.logout()}>Log out</button>
      </header>
      <main>
        ${principal.role === 'SYS_ADMIN'
          ? html`<p class="note">A system administrator manages tenants and has no devices: there is nothing to call from here.</p>`
          : device !== null
            ? keyed(device[1], html`<iot-rpc-device .session=${this.session} .socket=${this.#appSocket} .deviceId=${decodeURIComponent(device[1]!)}></iot-rpc-device>`)
            : view === 'dashboard'
              ? html`<iot-rpc-dashboard .session=${this.session} .socket=${this.#appSocket}></iot-rpc-dashboard>`
              : view === 'bulk'
                ? html`<iot-rpc-bulk .session=${this.session} .socket=${this.#appSocket}></iot-rpc-bulk>`
                : html`<iot-rpc-devices .session=${this.session} .socket=${this.#appSocket}></iot-rpc-devices>`}
      </main>
    `;
  }
}

customElements.define('iot-rpc-login', LoginView);
customElements.define('iot-rpc-devices', DevicesView);
customElements.define('iot-rpc-device', DeviceView);
customElements.define('iot-rpc-dashboard', DashboardView);
customElements.define('iot-rpc-bulk', BulkView);
customElements.define('iot-rpc-console', ConsoleApp);
