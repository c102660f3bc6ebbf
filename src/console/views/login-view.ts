import { LitElement, css, html } from 'lit';
import type { Session } from '../session.js';

/** Log in with the REST API (`POST /api/auth/login`). */
export class LoginView extends LitElement {
  static override properties = { session: { attribute: false }, error: { state: true }, busy: { state: true } };
  static override styles = css`
    form { box-sizing: border-box; width: min(340px, calc(100% - 32px)); margin: 12vh auto 0; background: #fff; border: 1px solid #d5dbe1; border-radius: 10px; padding: 24px; display: grid; gap: 12px; font: 14px system-ui, sans-serif; }
    h1 { margin: 0 0 4px; font-size: 20px; }
    label { display: grid; gap: 4px; }
    input { font: inherit; padding: 8px; border: 1px solid #98a2b3; border-radius: 6px; }
    button { font: inherit; padding: 9px; border: 0; border-radius: 6px; background: #1570ef; color: #fff; cursor: pointer; }
    .error { color: #b42318; min-height: 1.4em; }
  `;

  session!: Session;
  error = '';
  busy = false;

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    this.busy = true;
    this.error = '';
    try {
      await this.session.login(String(data.get('username')), String(data.get('password')));
    } catch (error) {
      this.error = (error as Error).message;
    } finally {
      this.busy = false;
    }
  }

  override render() {
    return html`<form @submit=${this.#submit}>
      <h1>iot-rpc</h1>
      <label>Email <input name="username" type="email" autocomplete="username" required autofocus /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Logging in…' : 'Log in'}</button>
      <div class="error" role="alert">${this.error}</div>
    </form>`;
  }
}
