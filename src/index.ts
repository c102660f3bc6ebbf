export { createRpcServer } from './server.js';
export type { RpcServer } from './server.js';
export type {
  RpcServerOptions,
  RpcServerEvents,
  ListeningAddresses,
  DeviceDirectory,
  CallOptions,
  CallingDevice,
  ClientRpcHandler,
  Device,
  NewDevice,
  NewUser,
  User,
  Page,
} from './server.js';
export type { CallEvent, CallStatus, SessionEvent, DeliveryOrder } from './actors/index.js';
export type { TelemetryEvent, AttributesEvent, AttributeScope, LatestValue, LatestValues } from './device-data/latest-values.js';
export type { BulkCall, BulkAnswer } from './bulk/bulk-call.js';
export type { BulkResult, BulkSummary } from './bulk/bulk-run.js';
export type { TelemetryEntry } from './device-data/device-data-payload.js';
export type { ServerConfigInput as ServerConfig } from './config.js';
export { RpcError, ERRORS } from './errors.js';
export { Withdrawal } from './actors/withdrawal.js';
export type { ErrorCode, ErrorBody } from './errors.js';
