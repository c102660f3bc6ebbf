import { ApiClient } from './api-client.js';

export interface Principal {
  readonly email: string;
  readonly role: 'SYS_ADMIN' | 'TENANT_ADMIN' | 'CUSTOMER_USER';
  readonly tenantId?: string;
  readonly customerId?: string;
  /** Epoch seconds. */
  readonly exp: number;
}

interface Tokens {
  readonly token: string;
  readonly refreshToken: string;
}

const STORAGE_KEY = 'iot-rpc-console-tokens';

function decode(token: string): Principal {
  const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sub: string; scopes: string[]; tenantId?: string; customerId?: string; exp: number };
  return { email: payload.sub, role: payload.scopes[0] as Principal['role'], tenantId: payload.tenantId, customerId: payload.customerId, exp: payload.exp };
}

/**
 * The console's login: tokens from `POST /api/auth/login` kept for the browser tab (sessionStorage), refreshed a
 * minute before the access token expires, dropped at logout. `change` fires on each of these.
 */
export class Session extends EventTarget {
  readonly #api: ApiClient;
  #tokens: Tokens | null = null;
  #refresh: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly baseUrl: string) {
    super();
    this.#api = new ApiClient(baseUrl, () => this.token);
    const kept = sessionStorage.getItem(STORAGE_KEY);
    if (kept !== null) this.#use(JSON.parse(kept) as Tokens);
  }

  get principal(): Principal | null {
    return this.#tokens === null ? null : decode(this.#tokens.token);
  }

  get token(): string {
    if (this.#tokens === null) throw new Error('not logged in');
    return this.#tokens.token;
  }

  get api(): ApiClient {
    return this.#api;
  }

  async login(username: string, password: string): Promise<void> {
    this.#use(await this.#api.request<Tokens>('POST', '/api/auth/login', { username, password }, false));
  }

  logout(): void {
    clearTimeout(this.#refresh);
    this.#tokens = null;
    sessionStorage.removeItem(STORAGE_KEY);
    this.dispatchEvent(new Event('change'));
  }

  #use(tokens: Tokens): void {
    const principal = decode(tokens.token);
    if (principal.exp * 1000 <= Date.now()) return this.logout();
    this.#tokens = tokens;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
    clearTimeout(this.#refresh);
    const inMs = Math.max(1000, principal.exp * 1000 - Date.now() - 60_000);
    this.#refresh = setTimeout(() => void this.#refreshNow(), Math.min(inMs, 2 ** 31 - 1));
    this.dispatchEvent(new Event('change'));
  }

  async #refreshNow(): Promise<void> {
    const refreshToken = this.#tokens?.refreshToken;
    if (refreshToken === undefined) return;
    try {
      this.#use(await this.#api.request<Tokens>('POST', '/api/auth/token', { refreshToken }, false));
    } catch {
      this.logout();
    }
  }
}
