/** The error body every REST route answers with (docs/errors.md). */
export interface ErrorBody {
  status: number;
  code: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A token, or a function that gives the current one (an application's own refresh logic). */
export type TokenSource = string | (() => string | Promise<string>);

/** The REST API of one iot-rpc server, with a JWT. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: TokenSource,
  ) {}

  async currentToken(): Promise<string> {
    return typeof this.token === 'string' ? this.token : await this.token();
  }

  /** `body` as JSON; the answer's JSON (undefined for an empty body); ApiError with the server's code otherwise. */
  async request<T>(method: string, path: string, body?: unknown, authenticated = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authenticated) headers['x-authorization'] = `Bearer ${await this.currentToken()}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(0, 'NETWORK', `the server cannot be reached (${(error as Error).message})`);
    }
    const text = await res.text();
    const value: unknown = text === '' ? undefined : JSON.parse(text);
    if (!res.ok) {
      const error = value as Partial<ErrorBody> | undefined;
      throw new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? res.statusText);
    }
    return value as T;
  }
}
