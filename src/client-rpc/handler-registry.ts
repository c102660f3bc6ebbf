import type { Device } from '../registry/device-registry.js';
import type { DeadlineScheduler } from '../scheduling/deadline-scheduler.js';
import { ScheduledTask } from '../scheduling/scheduled-task.js';

/** What a client-side RPC handler learns about the device that called. */
export interface CallingDevice {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly tenantId: string;
  readonly customerId: string | null;
}

export type ClientRpcHandler = (params: unknown, device: CallingDevice) => unknown;

/**
 * Client-side RPC: devices call methods that the embedding application
 * registers with `handle()`. The answer is the handler's value, or
 * `{"error": …}`: an unknown method is answered at once (SPEC.md), a handler
 * that throws gives its message, one that outlives the timeout gives "timeout".
 */
export class HandlerRegistry {
  readonly #handlers = new Map<string, ClientRpcHandler>();

  constructor(
    readonly scheduler: DeadlineScheduler,
    readonly timeoutMs: number,
  ) {
    this.#handlers.set('getCurrentTime', () => Date.now());
  }

  handle(method: string, handler: ClientRpcHandler): void {
    this.#handlers.set(method, handler);
  }

  /** The answer as JSON text, as every transport sends it; a value that is not JSON becomes an error answer. */
  async invokeAsJson(device: Device, method: unknown, params: unknown): Promise<string> {
    const answer = await this.invoke(device, method, params);
    try {
      return JSON.stringify(answer) ?? 'null';
    } catch {
      return NOT_JSON_ANSWER;
    }
  }

  /** Client-side calls answered so far, by outcome: ok, error (the handler threw), timeout, unknown_method, bad_request. */
  readonly outcomes = { ok: 0, error: 0, timeout: 0, unknown_method: 0, bad_request: 0 };

  async invoke(device: Device, method: unknown, params: unknown): Promise<unknown> {
    if (typeof method !== 'string' || method.length === 0) {
      this.outcomes.bad_request++;
      return { error: 'Request needs a "method" string' };
    }
    const handler = this.#handlers.get(method);
    if (handler === undefined) {
      this.outcomes.unknown_method++;
      return { error: `Unknown method: ${method}` };
    }
    const caller: CallingDevice = {
      id: device.id,
      name: device.name,
      type: device.type,
      tenantId: device.tenantId,
      customerId: device.customerId,
    };
    return new Promise((resolve) => {
      let settled = false;
      const settle = (value: unknown, outcome: 'ok' | 'error' | 'timeout' = 'ok') => {
        if (settled) return;
        settled = true;
        this.outcomes[outcome]++;
        timeout.cancel();
        resolve(value === undefined ? null : value);
      };
      const timeout = new ScheduledTask(this.scheduler, () => settle({ error: 'timeout' }, 'timeout'));
      timeout.runIn(this.timeoutMs);
      try {
        Promise.resolve(handler(params ?? {}, caller)).then(settle, (error: unknown) =>
          settle({ error: error instanceof Error ? error.message : String(error) }, 'error'),
        );
      } catch (error) {
        settle({ error: error instanceof Error ? error.message : String(error) }, 'error');
      }
    });
  }
}

const NOT_JSON_ANSWER = JSON.stringify({ error: 'The handler returned a value that is not JSON' });
