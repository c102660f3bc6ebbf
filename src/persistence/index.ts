export { MemoryCallStore, PERSISTENT_STATUSES, isFinal } from './call-store.js';
export type { CallStore, CallQuery, CallPage, PersistentStatus, StoredCall } from './call-store.js';
export { PersistentCalls } from './persistent-calls.js';
export { RedisCallStore } from './redis-call-store.js';
export type { PersistentRequest } from './persistent-calls.js';
