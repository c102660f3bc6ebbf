import { css, html } from 'lit';
import { RpcWidget } from './rpc-widget.js';

/**
 * ThingsBoard's LED indicator: `checkStatus` (two-way) says whether it is on; "unknown status" until an answer
 * comes, and it asks again every `retry-seconds` (10) while none does. `<iot-rpc-led device="…">`.
 */
export class LedWidget extends RpcWidget {
  static override properties = { ...RpcWidget.properties, label: { type: String }, method: { type: String }, retrySeconds: { type: Number, attribute: 'retry-seconds' }, on: { state: true }, detail: { state: true } };
  static override styles = [
    RpcWidget.baseStyles,
    css`
      .row { display: flex; align-items: center; gap: 10px; }
      .led { width: 22px; height: 22px; border-radius: 50%; background: #d0d5dd; box-shadow: inset 0 0 0 2px #98a2b3; }
      .led.on { background: #32d583; box-shadow: 0 0 10px #32d583; }
    `,
  ];

  label = 'LED';
  method = 'checkStatus';
  retrySeconds = 10;
  on: boolean | null = null;
  detail = '';
  #retry: ReturnType<typeof setTimeout> | undefined;

  protected override load(): void {
    clearTimeout(this.#retry);
    void this.#check();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#retry);
  }

  async #check(): Promise<void> {
    const { value, outcome } = await this.call(this.method, {});
    if (!this.isConnected) return;
    if (outcome.ok) {
      this.on = Boolean(value);
      this.detail = '';
      return;
    }
    this.on = null;
    this.detail = `${outcome.title}: ${outcome.detail} Asking again in ${this.retrySeconds} s.`;
    this.#retry = setTimeout(() => void this.#check(), this.retrySeconds * 1000);
  }

  override render() {
    return html`
      <h3>${this.label}</h3>
      <div class="row"><span class="led ${this.on === true ? 'on' : ''}" aria-hidden="true"></span><span data-status>${this.on === null ? 'unknown status' : this.on ? 'on' : 'off'}</span></div>
      <div class="status error" role="status">${this.detail}</div>
    `;
  }
}
