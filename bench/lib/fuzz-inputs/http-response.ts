/**
 * Splits a byte stream from the server into HTTP/1.1 responses. The server
 * gives every response a Content-Length (JSON bodies, empty answers, the
 * answers written on bare sockets), so that is all this reads; a 101 ends
 * the HTTP part and hands the rest of the stream on.
 */
export interface HttpResponse {
  status: number;
  body: string;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** A head longer than this without its end is not one: stop reading. */
const MAX_HEAD = 64 * 1024;

export class HttpResponseReader {
  #buffer: Buffer = Buffer.alloc(0);
  #broken = false;

  /**
   * @param onResponse each complete response
   * @param onUpgraded the bytes after a 101 response's head, now and as they come
   */
  constructor(
    readonly onResponse: (response: HttpResponse) => void,
    readonly onUpgraded?: (bytes: Buffer) => void,
  ) {}

  #upgraded = false;

  push(data: Buffer): void {
    if (this.#upgraded) return this.onUpgraded?.(data);
    if (this.#broken) return;
    this.#buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
    for (;;) {
      const end = this.#buffer.indexOf(HEAD_END);
      if (end < 0) {
        if (this.#buffer.length > MAX_HEAD) this.#broken = true;
        return;
      }
      const head = this.#buffer.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
      if (!Number.isFinite(status)) {
        this.#broken = true;
        return;
      }
      if (status === 101) {
        this.#upgraded = true;
        this.onResponse({ status, body: '' });
        const rest = this.#buffer.subarray(end + 4);
        this.#buffer = Buffer.alloc(0);
        if (rest.length > 0) this.onUpgraded?.(rest);
        return;
      }
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.#buffer.length < end + 4 + length) return;
      const body = this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.#buffer = this.#buffer.subarray(end + 4 + length);
      this.onResponse({ status, body });
    }
  }
}

/** `http 404`; for a 5xx its error code, and for a 500 the start of its message too, which says what failed. */
export function httpAnswerKey(response: HttpResponse): string {
  if (response.status < 500) return `http ${response.status}`;
  try {
    const body = JSON.parse(response.body) as { code?: string; message?: string };
    const detail = response.status === 500 ? ` ${(body.message ?? '').slice(0, 80)}` : '';
    return `http ${response.status} ${body.code ?? ''}${detail}`.trim();
  } catch {
    return `http ${response.status}`;
  }
}
