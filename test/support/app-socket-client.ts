import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { cmdId?: unknown };

/** An application on `/api/ws` (the `ws` package): sends frames, and waits for those that match. */
export class AppSocketClient {
  readonly frames: Frame[] = [];
  readonly #waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      for (const waiter of [...this.#waiters]) {
        if (!waiter.match(frame)) continue;
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    });
  }

  /** Opens `ws://…/api/ws` (with `?token=` when given); rejects with the HTTP status of a refused upgrade. */
  static open(httpUrl: string, token?: string): Promise<AppSocketClient> {
    const url = `${httpUrl.replace(/^http/, 'ws')}/api/ws${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`;
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new AppSocketClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(frame: Frame | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (already received or coming) that matches; fails after `timeoutMs`. */
  next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen !== undefined) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          this.frames.splice(this.frames.indexOf(f), 1);
          resolve(f);
        },
      });
    });
  }

  /** Sends a command and waits for its answer (the frame with its cmdId and a result or an error). */
  async command(frame: Frame, timeoutMs = 5000): Promise<Frame> {
    this.send(frame);
    return this.next((f) => f.cmdId === frame.cmdId && ('result' in f || 'error' in f), timeoutMs);
  }

  close(): void {
    this.ws.close();
  }
}
