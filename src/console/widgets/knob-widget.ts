import { css, html } from 'lit';
import type { CallOutcome } from '../call-outcome.js';
import { RpcWidget } from './rpc-widget.js';

/**
 * ThingsBoard's knob: `getValue` reads a number, `setValue` with a number sets it, within `min`…`max`. While a set
 * is in flight only the latest value is kept, and sent when it is done. `<iot-rpc-knob device="…" min="0" max="100">`.
 */
export class KnobWidget extends RpcWidget {
  static override properties = {
    ...RpcWidget.properties,
    label: { type: String },
    min: { type: Number },
    max: { type: Number },
    step: { type: Number },
    getMethod: { type: String, attribute: 'get-method' },
    setMethod: { type: String, attribute: 'set-method' },
    value: { state: true },
    outcome: { state: true },
    sending: { state: true },
  };
  static override styles = [RpcWidget.baseStyles, css`input[type='range'] { width: 100%; } .value { font-size: 22px; font-weight: 600; }`];

  label = 'Knob';
  min = 0;
  max = 100;
  step = 1;
  getMethod = 'getValue';
  setMethod = 'setValue';
  value: number | null = null;
  outcome: CallOutcome | null = null;
  sending = false;
  /** The latest value asked for while a set was in flight. */
  #next: number | undefined;
  /** Values the device was asked to set, in order (a test and a curious person read them). */
  readonly sent: number[] = [];

  protected override load(): void {
    void this.#read();
  }

  async #read(): Promise<void> {
    const { value, outcome } = await this.call(this.getMethod, {});
    if (outcome.ok && typeof value === 'number') this.value = value;
    this.outcome = outcome.ok ? null : outcome;
  }

  #input(event: Event): void {
    this.value = Number((event.target as HTMLInputElement).value);
    this.#next = this.value;
    if (!this.sending) void this.#sendLatest();
  }

  async #sendLatest(): Promise<void> {
    this.sending = true;
    while (this.#next !== undefined) {
      const value = this.#next;
      this.#next = undefined;
      this.sent.push(value);
      const { outcome } = await this.call(this.setMethod, value);
      this.outcome = outcome;
    }
    this.sending = false;
  }

  override render() {
    return html`
      <h3>${this.label}</h3>
      <div class="value" aria-live="polite">${this.value ?? '—'}</div>
      <input type="range" aria-label=${this.label} min=${this.min} max=${this.max} step=${this.step} .value=${String(this.value ?? this.min)} ?disabled=${this.value === null} @input=${this.#input} />
      <div class="status ${this.outcome === null ? '' : this.outcome.ok ? 'ok' : 'error'}" role="status">${this.sending ? 'Setting…' : this.outcome === null ? '' : `${this.outcome.title}: ${this.outcome.detail}`}</div>
    `;
  }
}
