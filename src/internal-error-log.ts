import type { Logger } from 'pino';
import { toRpcError } from './errors.js';

/** At most this many internal errors are logged whole in one window; the rest are counted and summed up once. */
const LOGGED_PER_WINDOW = 20;
const WINDOW_MS = 60_000;

/**
 * Every internal error (IOT_ERR_INTERNAL, a 500: a bug, never the peer's fault), whether answered to a REST or
 * WebSocket caller or met while serving a device, is logged at error level with its stack, so that it can be found
 * and fixed; but no peer can flood the log by provoking one again and again.
 */
export class InternalErrorLog {
  readonly #logger: Logger;
  #windowStart = 0;
  #logged = 0;
  #suppressed = 0;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Logs `error` if it is an internal one (status 500); `where` names what was being served. */
  report(error: unknown, where: Record<string, unknown>): void {
    const rpcError = toRpcError(error);
    if (rpcError.status !== 500) return;
    const now = Date.now();
    if (now - this.#windowStart >= WINDOW_MS) {
      if (this.#suppressed > 0) this.#logger.error({ suppressed: this.#suppressed, windowMs: WINDOW_MS }, 'more internal errors were not logged');
      this.#windowStart = now;
      this.#logged = 0;
      this.#suppressed = 0;
    }
    if (this.#logged >= LOGGED_PER_WINDOW) {
      this.#suppressed++;
      return;
    }
    this.#logged++;
    const cause = rpcError.cause instanceof Error ? rpcError.cause : rpcError;
    this.#logger.error({ ...where, err: cause }, 'internal error');
  }
}
