/** SPEC.md's persistent-call statuses. */
export type PersistentStatus = 'QUEUED' | 'SENT' | 'DELIVERED' | 'SUCCESSFUL' | 'TIMEOUT' | 'EXPIRED' | 'FAILED' | 'DELETED';
export const PERSISTENT_STATUSES: readonly PersistentStatus[] = ['QUEUED', 'SENT', 'DELIVERED', 'SUCCESSFUL', 'TIMEOUT', 'EXPIRED', 'FAILED', 'DELETED'];
/** Statuses a call never leaves. DELIVERED is final for one-way calls only. */
export const FINAL_STATUSES: ReadonlySet<PersistentStatus> = new Set(['SUCCESSFUL', 'EXPIRED', 'FAILED', 'DELETED']);

/** Request ids of a call's attempts kept with it. */
export const MAX_ATTEMPT_IDS = 16;

/** SPEC.md's stored call. */
export interface StoredCall {
  readonly id: string;
  readonly createdTime: number;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly expirationTime: number;
  readonly request: {
    readonly method: string;
    readonly params: unknown;
    readonly oneway: boolean;
    readonly timeout: number;
    readonly retries: number;
  };
  readonly response: unknown;
  readonly status: PersistentStatus;
  readonly additionalInfo: unknown;
  /** The caller's requestUUID: a repeat for the same device is the same call. */
  readonly requestUUID: string | null;
  /** Delivery attempts started so far. */
  readonly attempts: number;
  /** The request id each attempt went out with (the latest last, at most MAX_ATTEMPT_IDS): a late reply to any of them answers this call. */
  readonly requestIds?: readonly number[];
  readonly updatedTime: number;
}

export interface CallQuery {
  /** Only this tenant's calls. */
  readonly tenantId: string;
  readonly pageSize: number;
  readonly page: number;
  readonly status?: PersistentStatus;
  readonly sortProperty: 'createdTime' | 'expirationTime';
  readonly sortOrder: 'ASC' | 'DESC';
}

export interface CallPage {
  readonly data: StoredCall[];
  readonly totalPages: number;
  readonly totalElements: number;
  readonly hasNext: boolean;
}

/**
 * Where persistent calls live. The memory store is the embedded default; a
 * Redis store (issue 5) implements the same interface so that any node can
 * answer any query and recover any call.
 */
export interface CallStore {
  /** Stores a new call; if its requestUUID is taken for the device, stores nothing and returns the earlier call. */
  insert(call: StoredCall): Promise<StoredCall>;
  /**
   * Replaces the stored call (same id); every status change is written here before it is acted on.
   * A call in a final status keeps it (only DELETED may follow): false when refused, or when the call is gone.
   * With `expected`, only a call still in that status is written (compare-and-set).
   */
  update(call: StoredCall, expected?: PersistentStatus): Promise<boolean>;
  get(id: string): Promise<StoredCall | undefined>;
  byRequestUUID(deviceId: string, requestUUID: string): Promise<StoredCall | undefined>;
  listByDevice(deviceId: string, query: CallQuery): Promise<CallPage>;
  /** Every call not in a final status, oldest first, for recovery. */
  unfinished(): Promise<StoredCall[]>;
  /** How many of one device's calls are not in a final status. */
  countUnfinishedByDevice(deviceId: string): Promise<number>;
  /** One device's calls not in a final status, oldest first: what its next session resumes. */
  unfinishedByDevice(deviceId: string): Promise<StoredCall[]>;
  /** Up to `limit` calls not in a final status whose expirationTime is at or before `now`. */
  unfinishedDue(now: number, limit: number): Promise<StoredCall[]>;
  /** Removes calls in a final status updated before `before` (epoch ms); returns how many. */
  purgeFinishedBefore(before: number): Promise<number>;
  /** Removes the finished calls that finished first until at most `keep` remain; how many went. */
  purgeFinishedBeyond(keep: number): Promise<number>;
  /** Removes one call and its indexes (a DELETE of a call, as ThingsBoard removes it); later writes to it match nothing. */
  remove(call: StoredCall): Promise<void>;
  /** Lets go of connections, if any. */
  close?(): Promise<void>;
}

export class MemoryCallStore implements CallStore {
  readonly #calls = new Map<string, StoredCall>();
  /** Finished calls in the order they finished: retention and the count bound take the oldest first. */
  readonly #finished = new Map<string, number>();

  /** `maxFinished` (rpc.maxFinishedPersistentCalls): the finished calls kept at most; the oldest go as more finish. */
  constructor(readonly maxFinished = 100_000) {}
  readonly #byUUID = new Map<string, string>();
  /** Ids by device, and the ids not yet final: listing and recovery read only these. */
  readonly #byDevice = new Map<string, Set<string>>();
  readonly #unfinished = new Set<string>();

  async insert(call: StoredCall): Promise<StoredCall> {
    if (call.requestUUID !== null) {
      const key = `${call.deviceId}\u0000${call.requestUUID}`;
      const earlier = this.#calls.get(this.#byUUID.get(key) ?? '');
      if (earlier !== undefined) return earlier;
      this.#byUUID.set(key, call.id);
    }
    this.#calls.set(call.id, call);
    let ids = this.#byDevice.get(call.deviceId);
    if (ids === undefined) this.#byDevice.set(call.deviceId, (ids = new Set()));
    ids.add(call.id);
    if (!isFinal(call)) this.#unfinished.add(call.id);
    else this.#finishedNow(call);
    return call;
  }

  async update(call: StoredCall, expected?: PersistentStatus): Promise<boolean> {
    const current = this.#calls.get(call.id);
    if (current === undefined || !mayReplace(current, call) || (expected !== undefined && current.status !== expected)) return false;
    this.#calls.set(call.id, call);
    if (isFinal(call)) {
      this.#unfinished.delete(call.id);
      this.#finishedNow(call);
    } else {
      this.#unfinished.add(call.id);
    }
    return true;
  }

  #finishedNow(call: StoredCall): void {
    this.#finished.delete(call.id);
    this.#finished.set(call.id, call.updatedTime);
    if (this.#finished.size > this.maxFinished) void this.purgeFinishedBeyond(this.maxFinished);
  }

  async get(id: string): Promise<StoredCall | undefined> {
    return this.#calls.get(id);
  }

  async byRequestUUID(deviceId: string, requestUUID: string): Promise<StoredCall | undefined> {
    const id = this.#byUUID.get(`${deviceId}\u0000${requestUUID}`);
    return id === undefined ? undefined : this.#calls.get(id);
  }

  async listByDevice(deviceId: string, query: CallQuery): Promise<CallPage> {
    const direction = query.sortOrder === 'ASC' ? 1 : -1;
    const all = [...(this.#byDevice.get(deviceId) ?? [])]
      .map((id) => this.#calls.get(id)!)
      .filter((c) => c.tenantId === query.tenantId && (query.status === undefined || c.status === query.status))
      .sort((a, b) => direction * (a[query.sortProperty] - b[query.sortProperty]) || direction * a.id.localeCompare(b.id));
    const totalPages = Math.ceil(all.length / query.pageSize);
    return {
      data: all.slice(query.page * query.pageSize, (query.page + 1) * query.pageSize),
      totalPages,
      totalElements: all.length,
      hasNext: query.page + 1 < totalPages,
    };
  }

  async unfinished(): Promise<StoredCall[]> {
    return [...this.#unfinished].map((id) => this.#calls.get(id)!).sort((a, b) => a.createdTime - b.createdTime);
  }

  async countUnfinishedByDevice(deviceId: string): Promise<number> {
    let count = 0;
    for (const id of this.#byDevice.get(deviceId) ?? []) if (this.#unfinished.has(id)) count++;
    return count;
  }

  async unfinishedByDevice(deviceId: string): Promise<StoredCall[]> {
    return [...(this.#byDevice.get(deviceId) ?? [])]
      .filter((id) => this.#unfinished.has(id))
      .map((id) => this.#calls.get(id)!)
      .sort((a, b) => a.createdTime - b.createdTime);
  }

  async unfinishedDue(now: number, limit: number): Promise<StoredCall[]> {
    const due: StoredCall[] = [];
    for (const id of this.#unfinished) {
      const call = this.#calls.get(id)!;
      if (call.expirationTime <= now) due.push(call);
      if (due.length >= limit) break;
    }
    return due;
  }

  async purgeFinishedBefore(before: number): Promise<number> {
    let removed = 0;
    for (const [id, finishedAt] of this.#finished) {
      if (finishedAt >= before) continue;
      this.#forget(this.#calls.get(id)!);
      removed++;
    }
    return removed;
  }

  async purgeFinishedBeyond(keep: number): Promise<number> {
    let removed = 0;
    for (const id of this.#finished.keys()) {
      if (this.#finished.size <= keep) break;
      this.#forget(this.#calls.get(id)!);
      removed++;
    }
    return removed;
  }

  async remove(call: StoredCall): Promise<void> {
    const stored = this.#calls.get(call.id);
    if (stored !== undefined) this.#forget(stored);
  }

  #forget(call: StoredCall): void {
    this.#calls.delete(call.id);
    this.#finished.delete(call.id);
    this.#unfinished.delete(call.id);
    this.#byDevice.get(call.deviceId)?.delete(call.id);
    if (this.#byDevice.get(call.deviceId)?.size === 0) this.#byDevice.delete(call.deviceId);
    if (call.requestUUID !== null) this.#byUUID.delete(`${call.deviceId}\u0000${call.requestUUID}`);
  }
}

/** A final status is kept: only DELETED may replace it, and nothing replaces DELETED. */
export function mayReplace(current: StoredCall, next: StoredCall): boolean {
  if (current.status === 'DELETED') return false;
  return !isFinal(current) || next.status === 'DELETED';
}

/** Final for this call: the final statuses, and DELIVERED for a one-way call. */
export function isFinal(call: StoredCall): boolean {
  return FINAL_STATUSES.has(call.status) || (call.request.oneway && call.status === 'DELIVERED');
}
