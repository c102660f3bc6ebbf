import { Withdrawal } from '../actors/withdrawal.js';
import { RpcError } from '../errors.js';

/** One device's part of a bulk call: what it answered, or why not. `status` is the HTTP status a single call would have had. */
export interface BulkResult {
  readonly deviceId: string;
  readonly status: number;
  /** A two-way call's reply. */
  readonly response?: unknown;
  /** A persistent call's id. */
  readonly rpcId?: string;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface BulkSummary {
  total: number;
  ok: number;
  failed: number;
  /** Failures by error code. */
  byCode: Record<string, number>;
}

/** A device to call, or one refused before any call (not found, not the caller's to reach). */
export type BulkTarget = { readonly deviceId: string; readonly refused?: RpcError };

export type BulkOutcome = { readonly response?: unknown; readonly rpcId?: string };

const asRpcError = (error: unknown) => (error instanceof RpcError ? error : new RpcError('IOT_ERR_INTERNAL', (error as Error)?.message ?? String(error)));

function failure(deviceId: string, error: unknown): BulkResult {
  const rpcError = asRpcError(error);
  return { deviceId, status: rpcError.status, error: { code: rpcError.code, message: rpcError.message } };
}

/**
 * Calls every target, at most `concurrency` at once, and yields each device's result as it arrives (refused targets
 * first, as they need no call). `withdrawal` (the caller left), or stopping the iteration early, withdraws the calls
 * still running and starts no more: each is then a result IOT_ERR_CALL_DELETED.
 */
export async function* runBulk(
  targets: readonly BulkTarget[],
  call: (deviceId: string, withdrawal: Withdrawal) => Promise<BulkOutcome>,
  concurrency: number,
  withdrawal: Withdrawal = new Withdrawal(),
): AsyncGenerator<BulkResult> {
  const finished: BulkResult[] = [];
  let read = 0;
  let next = 0;
  let running = 0;
  let wake: (() => void) | undefined;
  const settle = (result: BulkResult) => {
    finished.push(result);
    wake?.();
  };
  const startMore = () => {
    while (running < concurrency && next < targets.length) {
      const { deviceId, refused } = targets[next++]!;
      if (refused !== undefined || withdrawal.withdrawn) {
        settle(failure(deviceId, refused ?? new RpcError('IOT_ERR_CALL_DELETED', 'the bulk call was withdrawn before this device was called')));
        continue;
      }
      running++;
      call(deviceId, withdrawal)
        .then(
          (outcome): BulkResult => ({ deviceId, status: 200, ...outcome }),
          (error: unknown) => failure(deviceId, error),
        )
        .then((result) => {
          running--;
          settle(result);
          startMore();
        });
    }
  };
  try {
    startMore();
    while (read < targets.length) {
      if (read === finished.length) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      while (read < finished.length) {
        const result = finished[read]!;
        finished[read++] = undefined as never; // yielded results are not kept
        yield result;
      }
    }
  } finally {
    withdrawal.withdraw();
  }
}

/** Counts results into a summary as they go by. */
export class BulkTally {
  readonly summary: BulkSummary = { total: 0, ok: 0, failed: 0, byCode: {} };

  add(result: BulkResult): BulkResult {
    this.summary.total++;
    if (result.error === undefined) this.summary.ok++;
    else {
      this.summary.failed++;
      this.summary.byCode[result.error.code] = (this.summary.byCode[result.error.code] ?? 0) + 1;
    }
    return result;
  }
}
