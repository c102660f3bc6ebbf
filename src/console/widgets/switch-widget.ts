import { css, html } from 'lit';
import type { CallOutcome } from '../call-outcome.js';
import { RpcWidget } from './rpc-widget.js';

/** ThingsBoard's switch: `getValue` (two-way) reads it, `setValue` with a boolean (one-way) sets it. `<iot-rpc-switch device="…">`. */
export class SwitchWidget extends RpcWidget {
  static override properties = { ...RpcWidget.properties, label: { type: String }, getMethod: { type: String, attribute: 'get-method' }, setMethod: { type: String, attribute: 'set-method' }, value: { state: true }, outcome: { state: true }, busy: { state: true } };
  static override styles = [
    RpcWidget.baseStyles,
    css`
      .switch { display: inline-flex; align-items: center; gap: 10px; border: 0; background: none; padding: 4px 0; }
      .track { width: 46px; height: 26px; border-radius: 13px; background: #98a2b3; position: relative; transition: background 0.15s; }
      .track::after { content: ''; position: absolute; top: 3px; left: 3px; width: 20px; height: 20px; border-radius: 50%; background: #fff; transition: left 0.15s; }
      [aria-checked='true'] .track { background: #12b76a; }
      [aria-checked='true'] .track::after { left: 23px; }
    `,
  ];

  label = 'Switch';
  getMethod = 'getValue';
  setMethod = 'setValue';
  value: boolean | null = null;
  outcome: CallOutcome | null = null;
  busy = false;

  protected override load(): void {
    void this.#read();
  }

  async #read(): Promise<void> {
    const { value, outcome } = await this.call(this.getMethod, {});
    if (outcome.ok) this.value = Boolean(value);
    this.outcome = outcome.ok ? null : outcome;
  }

  async #flip(): Promise<void> {
    if (this.busy) return;
    const next = !(this.value ?? false);
    this.busy = true;
    const { outcome } = await this.call(this.setMethod, next, true);
    this.busy = false;
    if (outcome.ok) this.value = next;
    this.outcome = outcome;
  }

  override render() {
    return html`
      <h3>${this.label}</h3>
      <button class="switch" role="switch" aria-checked=${this.value === true ? 'true' : 'false'} ?disabled=${this.busy || this.value === null} @click=${this.#flip}>
        <span class="track"></span><span>${this.value === null ? 'unknown' : this.value ? 'on' : 'off'}</span>
      </button>
      <div class="status ${this.outcome === null ? '' : this.outcome.ok ? 'ok' : 'error'}" role="status">${this.outcome === null ? '' : `${this.outcome.title}: ${this.outcome.detail}`}</div>
    `;
  }
}
