import { css, html } from 'lit';
import { RpcWidget } from './rpc-widget.js';

interface Line {
  readonly kind: 'call' | 'reply' | 'error';
  readonly text: string;
}

const MAX_LINES = 200;
const MAX_HISTORY = 50;

/**
 * ThingsBoard's RPC debug terminal: `method {json params}` sends a two-way call; the reply, the time it took or
 * the error (which of the four failures, and its code) follow. Arrow keys walk the history. `<iot-rpc-terminal device="…">`.
 */
export class RpcTerminal extends RpcWidget {
  static override properties = { ...RpcWidget.properties, lines: { state: true }, busy: { state: true } };

  static override styles = [
    RpcWidget.baseStyles,
    css`
      .out { background: #101828; color: #e4e7ec; font: 13px/1.5 ui-monospace, monospace; padding: 8px; border-radius: 6px; height: 220px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
      .call { color: #7cd4fd; }
      .reply { color: #a6f4c5; }
      .error { color: #fda29b; }
      form { display: flex; gap: 6px; margin-top: 8px; }
      input { flex: 1; min-width: 0; font: 13px ui-monospace, monospace; padding: 6px 8px; border: 1px solid #98a2b3; border-radius: 6px; }
    `,
  ];

  lines: Line[] = [];
  busy = false;
  readonly #history: string[] = [];
  #cursor = 0;

  async #submit(event: Event): Promise<void> {
    event.preventDefault();
    const input = this.renderRoot.querySelector('input')!;
    const text = input.value.trim();
    if (text === '' || this.busy) return;
    if (this.#history.at(-1) !== text) this.#history.push(text);
    if (this.#history.length > MAX_HISTORY) this.#history.shift();
    this.#cursor = this.#history.length;
    input.value = '';
    const space = text.search(/\s/);
    const method = space < 0 ? text : text.slice(0, space);
    const rest = space < 0 ? '' : text.slice(space + 1).trim();
    let params: unknown = {};
    try {
      if (rest !== '') params = JSON.parse(rest);
    } catch {
      return this.#add({ kind: 'error', text: `✗ params are not JSON: ${rest}` });
    }
    this.#add({ kind: 'call', text: `> ${method} ${JSON.stringify(params)}` });
    this.busy = true;
    const { value, outcome } = await this.call(method, params);
    this.busy = false;
    this.#add(outcome.ok ? { kind: 'reply', text: `← ${JSON.stringify(value)}  (${outcome.ms} ms)` } : { kind: 'error', text: `✗ ${outcome.title}: ${outcome.detail}${outcome.code === undefined ? '' : ` [${outcome.code}]`}  (${outcome.ms} ms)` });
  }

  #add(line: Line): void {
    this.lines = [...this.lines, line].slice(-MAX_LINES);
    void this.updateComplete.then(() => {
      const out = this.renderRoot.querySelector('.out');
      if (out !== null) out.scrollTop = out.scrollHeight;
    });
  }

  #key(event: KeyboardEvent): void {
    if (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') return;
    event.preventDefault();
    this.#cursor = Math.max(0, Math.min(this.#history.length, this.#cursor + (event.key === 'ArrowUp' ? -1 : 1)));
    (event.target as HTMLInputElement).value = this.#history[this.#cursor] ?? '';
  }

  override render() {
    return html`
      <h3>RPC debug terminal</h3>
      <div class="out" role="log" aria-live="polite">${this.lines.map((line) => html`<div class=${line.kind}>${line.text}</div>`)}</div>
      <form @submit=${this.#submit}>
        <input aria-label="method and JSON params" placeholder='method {"json":"params"}' @keydown=${this.#key} ?disabled=${this.busy} autocomplete="off" spellcheck="false" />
        <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Waiting…' : 'Send'}</button>
      </form>
    `;
  }
}
