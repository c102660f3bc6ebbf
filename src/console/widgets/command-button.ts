import { css, html } from 'lit';
import type { CallOutcome } from '../call-outcome.js';
import { RpcWidget } from './rpc-widget.js';

/**
 * A button that sends a configured call: `method`, `params` (JSON), `oneway`, an optional `confirm` question, and
 * `fields` (comma-separated param names) whose values the person types in (ThingsBoard #14992, #7144).
 * `<iot-rpc-button device="…" method="reboot" confirm="Reboot the device?">`.
 */
export class CommandButton extends RpcWidget {
  static override properties = { ...RpcWidget.properties, label: { type: String }, method: { type: String }, params: { type: String }, oneway: { type: Boolean }, confirm: { type: String }, fields: { type: String }, outcome: { state: true }, busy: { state: true } };
  static override styles = [
    RpcWidget.baseStyles,
    css`
      form { display: grid; gap: 8px; }
      label { display: grid; gap: 2px; font-size: 13px; }
      input { font: inherit; padding: 6px 8px; border: 1px solid #98a2b3; border-radius: 6px; }
      button.send { padding: 8px 12px; border: 0; border-radius: 6px; background: #1570ef; color: #fff; justify-self: start; }
      .reply { font: 12px ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
    `,
  ];

  label = '';
  method = '';
  params = '{}';
  oneway = false;
  confirm = '';
  fields = '';
  outcome: CallOutcome | null = null;
  busy = false;
  #reply: unknown;

  get #fieldNames(): string[] {
    return this.fields.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  }

  async #send(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (this.busy) return;
    if (this.confirm !== '' && !window.confirm(this.confirm)) return;
    let params: Record<string, unknown>;
    try {
      params = { ...(JSON.parse(this.params || '{}') as Record<string, unknown>) };
    } catch {
      this.outcome = { ok: false, title: 'Bad configuration', detail: `params is not JSON: ${this.params}`, ms: 0 };
      return;
    }
    const form = new FormData(event.target as HTMLFormElement);
    for (const name of this.#fieldNames) {
      const text = String(form.get(name) ?? '');
      params[name] = text !== '' && !Number.isNaN(Number(text)) ? Number(text) : text;
    }
    this.busy = true;
    const { value, outcome } = await this.call(this.method, params, this.oneway);
    this.busy = false;
    this.#reply = value;
    this.outcome = outcome;
  }

  override render() {
    return html`
      <form @submit=${this.#send}>
        ${this.#fieldNames.map((name) => html`<label>${name} <input name=${name} /></label>`)}
        <button class="send" type="submit" ?disabled=${this.busy}>${this.busy ? 'Sending…' : this.label || this.method}</button>
      </form>
      <div class="status ${this.outcome === null ? '' : this.outcome.ok ? 'ok' : 'error'}" role="status">${this.outcome === null ? '' : `${this.outcome.title}: ${this.outcome.detail}`}</div>
      ${this.outcome?.ok === true && !this.oneway ? html`<div class="reply">${JSON.stringify(this.#reply)}</div>` : ''}
    `;
  }
}
