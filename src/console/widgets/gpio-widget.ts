import { css, html } from 'lit';
import type { CallOutcome } from '../call-outcome.js';
import { RpcWidget } from './rpc-widget.js';

/**
 * ThingsBoard's GPIO control: `getGpioStatus {}` reads the pin map, `setGpioStatus {"pin","enabled"}` (two-way)
 * answers the full map, which the grid shows. `<iot-rpc-gpio device="…" token="…">`; method names configurable.
 */
export class GpioWidget extends RpcWidget {
  static override properties = {
    ...RpcWidget.properties,
    getMethod: { type: String, attribute: 'get-method' },
    setMethod: { type: String, attribute: 'set-method' },
    pins: { state: true },
    outcome: { state: true },
    pending: { state: true },
  };

  static override styles = [
    RpcWidget.baseStyles,
    css`
      .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(84px, 1fr)); gap: 8px; }
      .pin { padding: 10px 6px; border-radius: 6px; border: 1px solid #98a2b3; background: #f2f4f7; color: #344054; }
      .pin[aria-pressed='true'] { background: #12b76a; border-color: #027a48; color: #fff; }
      .pin:disabled { opacity: 0.6; cursor: progress; }
    `,
  ];

  getMethod = 'getGpioStatus';
  setMethod = 'setGpioStatus';
  pins: Record<string, boolean> | null = null;
  outcome: CallOutcome | null = null;
  pending = new Set<string>();

  protected override load(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const { value, outcome } = await this.call(this.getMethod, {});
    if (outcome.ok && isPinMap(value)) this.pins = value;
    this.outcome = outcome.ok ? null : outcome;
  }

  async #toggle(pin: string): Promise<void> {
    if (this.pins === null || this.pending.has(pin)) return;
    this.pending = new Set([...this.pending, pin]);
    const { value, outcome } = await this.call(this.setMethod, { pin: Number(pin), enabled: !this.pins[pin] });
    const pending = new Set(this.pending);
    pending.delete(pin);
    this.pending = pending;
    if (outcome.ok && isPinMap(value)) this.pins = value;
    this.outcome = outcome;
  }

  override render() {
    const pins = this.pins;
    return html`
      <h3>GPIO</h3>
      ${pins === null
        ? html`<p>${this.outcome === null ? 'Reading the pins…' : 'The pins cannot be read.'}</p>`
        : html`<div class="grid" role="group" aria-label="GPIO pins">
            ${Object.entries(pins).map(
              ([pin, on]) => html`<button class="pin" aria-pressed=${on ? 'true' : 'false'} ?disabled=${this.pending.has(pin)} data-pin=${pin} @click=${() => this.#toggle(pin)}>Pin ${pin}: ${on ? 'on' : 'off'}</button>`,
            )}
          </div>`}
      <div class="status ${this.outcome === null ? '' : this.outcome.ok ? 'ok' : 'error'}" role="status">${this.outcome === null ? '' : `${this.outcome.title}: ${this.outcome.detail}`}</div>
    `;
  }
}

function isPinMap(value: unknown): value is Record<string, boolean> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'boolean');
}
