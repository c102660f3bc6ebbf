/**
 * Reads a server's stderr line by line: pino's JSON lines counted by level
 * (50 error, 60 fatal), and the lines that are not JSON (an uncaught
 * exception's stack, a Node warning) kept apart. The first few of each are
 * kept with the time they arrived, so a finding can be matched to the inputs
 * sent at that moment.
 */
export interface LoggedLine {
  /** Date.now() when the runner read it. */
  at: number;
  line: string;
}

export interface LogSummary {
  /** JSON lines by pino level name. */
  byLevel: Record<string, number>;
  /** Level 50 and above. */
  errors: number;
  /** Lines that were not JSON. */
  other: number;
  /** Fatal exceptions: Node's `Node.js v…` trailer after an uncaught exception or unhandled rejection, or pino level 60. */
  uncaught: number;
  /** Error-level messages by their `msg`. */
  errorMessages: Record<string, number>;
  firstErrors: LoggedLine[];
  firstOther: LoggedLine[];
  /** The last lines that were not JSON: where a fatal exception's stack is. */
  lastOther: LoggedLine[];
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const KEEP = 20;

export class LogWatch {
  readonly #byLevel: Record<string, number> = {};
  readonly #errorMessages: Record<string, number> = {};
  readonly #firstErrors: LoggedLine[] = [];
  readonly #firstOther: LoggedLine[] = [];
  readonly #lastOther: LoggedLine[] = [];
  #errors = 0;
  #other = 0;
  #uncaught = 0;
  /** Times of every error-level line and fatal trailer (to match them to inputs). */
  readonly errorTimes: number[] = [];

  /** @param echo also print error and non-JSON lines (the first KEEP of each) to this process's stderr, prefixed */
  constructor(readonly echo?: string) {}

  readonly onLine = (line: string): void => {
    if (line.trim() === '') return;
    const at = Date.now();
    let entry: { level?: unknown; msg?: unknown } | undefined;
    if (line.startsWith('{')) {
      try {
        entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      } catch {
        entry = undefined;
      }
    }
    if (entry === undefined || typeof entry.level !== 'number') {
      this.#other++;
      if (/^Node\.js v\d/.test(line)) {
        this.#uncaught++;
        this.errorTimes.push(at);
      }
      this.#keep(this.#firstOther, at, line);
      this.#lastOther.push({ at, line: line.slice(0, 2000) });
      if (this.#lastOther.length > 2 * KEEP) this.#lastOther.shift();
      return;
    }
    const level = LEVELS[entry.level] ?? String(entry.level);
    this.#byLevel[level] = (this.#byLevel[level] ?? 0) + 1;
    if (entry.level < 50) return;
    this.#errors++;
    if (entry.level >= 60) this.#uncaught++;
    this.errorTimes.push(at);
    const msg = typeof entry.msg === 'string' ? entry.msg : '(no msg)';
    this.#errorMessages[msg] = (this.#errorMessages[msg] ?? 0) + 1;
    this.#keep(this.#firstErrors, at, line);
  };

  /** Error-level lines and fatal exceptions so far. */
  get problems(): number {
    return this.#errors + this.#uncaught;
  }

  #keep(list: LoggedLine[], at: number, line: string): void {
    if (list.length >= KEEP) return;
    list.push({ at, line: line.length > 2000 ? `${line.slice(0, 2000)}…` : line });
    if (this.echo !== undefined) console.error(`${this.echo} ${line.slice(0, 500)}`);
  }

  summary(): LogSummary {
    return {
      byLevel: { ...this.#byLevel },
      errors: this.#errors,
      other: this.#other,
      uncaught: this.#uncaught,
      errorMessages: { ...this.#errorMessages },
      firstErrors: [...this.#firstErrors],
      firstOther: [...this.#firstOther],
      lastOther: [...this.#lastOther],
    };
  }
}
