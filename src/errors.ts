/**
 * Every error the engine can answer with, in one table (fastify's lib/errors.js
 * is the model). Each row gives the HTTP status of `/api/rpc`, the status of the
 * legacy `/api/plugins/rpc` (ThingsBoard's own codes), the CoAP response code,
 * ThingsBoard's numeric `errorCode`, and whether retrying can help.
 * docs/errors.md documents every row; a test keeps the two in step.
 */
export interface ErrorDefinition {
  readonly status: number;
  readonly legacyStatus: number;
  readonly coap: string;
  readonly errorCode: number;
  readonly retryable: boolean;
  readonly message: (detail: string) => string;
}

const define = (
  status: number,
  legacyStatus: number,
  coap: string,
  errorCode: number,
  retryable: boolean,
  message: (detail: string) => string,
): ErrorDefinition => ({ status, legacyStatus, coap, errorCode, retryable, message });

export const ERRORS = {
  IOT_ERR_BAD_REQUEST: define(400, 400, '4.00', 31, false, (d) => `Bad request: ${d}`),
  IOT_ERR_INVALID_JSON: define(400, 400, '4.00', 31, false, (d) => `Body is not valid JSON: ${d}`),
  IOT_ERR_UNSUPPORTED_CONTENT_TYPE: define(400, 400, '4.15', 31, false, (d) => `Content-Type must be application/json, got ${d}`),
  IOT_ERR_UNAUTHORIZED: define(401, 401, '4.01', 10, false, (d) => `Authentication failed: ${d}`),
  IOT_ERR_TOKEN_EXPIRED: define(401, 401, '4.01', 11, false, () => 'Token has expired'),
  IOT_ERR_BAD_CREDENTIALS: define(401, 401, '4.01', 10, false, () => 'Invalid username or password'),
  IOT_ERR_FORBIDDEN: define(403, 403, '4.03', 20, false, (d) => `You don't have permission to perform this operation: ${d}`),
  IOT_ERR_DEVICE_NOT_FOUND: define(404, 404, '4.04', 32, false, (d) => `Device ${d} not found`),
  IOT_ERR_NOT_FOUND: define(404, 404, '4.04', 32, false, (d) => `Not found: ${d}`),
  IOT_ERR_METHOD_NOT_ALLOWED: define(405, 405, '4.05', 31, false, (d) => `Method not allowed: ${d}`),
  IOT_ERR_REPLY_NOT_JSON: define(406, 406, '4.06', 2, false, (d) => `The device replied with a payload that is not JSON: ${d}`),
  IOT_ERR_CONFLICT: define(409, 409, '4.09', 31, false, (d) => `Conflict: ${d}`),
  IOT_ERR_PAYLOAD_TOO_LARGE: define(413, 413, '4.13', 31, false, (d) => `Payload too large: ${d}`),
  IOT_ERR_HEADERS_TOO_LARGE: define(431, 431, '4.13', 31, false, () => 'Request headers too large'),
  IOT_ERR_REQUEST_TIMEOUT: define(408, 408, '4.08', 31, true, (d) => `The request did not arrive in time: ${d}`),
  IOT_ERR_QUEUE_FULL: define(429, 429, '4.29', 33, true, (d) => `Too many pending calls for device ${d}`),
  IOT_ERR_TOO_MANY_PERSISTENT: define(429, 429, '4.29', 33, true, (d) => `Too many unfinished persistent calls for device ${d}`),
  IOT_ERR_OVERLOADED: define(503, 503, '5.03', 2, true, (d) => `The server is overloaded; try again: ${d}`),
  IOT_ERR_DEVICE_OFFLINE: define(504, 409, '5.04', 2, true, (d) => `No subscribed session before the deadline: device ${d} is offline`),
  IOT_ERR_NOT_SUBSCRIBED: define(504, 409, '5.04', 2, true, (d) => `No subscribed session before the deadline: device ${d} is connected but not subscribed to RPC`),
  IOT_ERR_STILL_QUEUED: define(504, 408, '5.04', 2, true, (d) => `Not sent before the deadline: device ${d} is subscribed, but the call was still queued behind earlier calls or could not be written`),
  IOT_ERR_NO_REPLY_SENT: define(504, 408, '5.04', 2, true, (d) => `Sent, no reply before the deadline: device ${d} did not acknowledge or answer the request`),
  IOT_ERR_NO_REPLY_DELIVERED: define(504, 408, '5.04', 2, true, (d) => `Delivered, no reply before the deadline: device ${d} took the request (acknowledged it, or it was handed over where nothing is acknowledged: MQTT QoS 0, HTTP) but did not answer`),
  IOT_ERR_DEVICE_REMOVED: define(410, 410, '4.04', 32, false, (d) => `Device ${d} was deleted while the call was pending`),
  IOT_ERR_CALL_DELETED: define(410, 410, '4.04', 32, false, (d) => `The call was withdrawn: ${d}`),
  IOT_ERR_SHUTTING_DOWN: define(503, 503, '5.03', 2, true, () => 'The server is shutting down'),
  IOT_ERR_UNAVAILABLE: define(503, 503, '5.03', 2, true, (d) => `Service unavailable: ${d}`),
  IOT_ERR_CLUSTER_UNAVAILABLE: define(503, 503, '5.03', 2, true, (d) => `The cluster cannot be reached (Redis is unavailable), and device ${d} has no session on this node`),
  IOT_ERR_NODE_GONE: define(503, 503, '5.03', 2, true, (d) => `The node holding the device's session stopped answering: ${d}`),
  IOT_ERR_NODE_NO_ANSWER: define(504, 408, '5.04', 2, true, (d) => `No answer before the deadline from the node holding the device's session: ${d}`),
  IOT_ERR_INTERNAL: define(500, 500, '5.00', 2, true, (d) => `Internal error: ${d}`),
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  status: number;
  message: string;
  errorCode: number;
  code: ErrorCode;
  timestamp: number;
}

export class RpcError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly legacyStatus: number;
  readonly errorCode: number;
  readonly retryable: boolean;
  /** The CoAP response code that answers it. */
  readonly coap: string;

  constructor(code: ErrorCode, detail = '', options?: ErrorOptions) {
    const definition = ERRORS[code];
    super(definition.message(detail), options);
    this.name = 'RpcError';
    this.code = code;
    this.status = definition.status;
    this.legacyStatus = definition.legacyStatus;
    this.errorCode = definition.errorCode;
    this.retryable = definition.retryable;
    this.coap = definition.coap;
  }

  /** An error that crossed Redis as data, rebuilt with its code and its original message. */
  static fromData(data: { code: string; message: string }): RpcError {
    const error = new RpcError(Object.hasOwn(ERRORS, data.code) ? (data.code as ErrorCode) : 'IOT_ERR_INTERNAL');
    error.message = data.message;
    return error;
  }

  toBody(legacy = false): ErrorBody {
    return {
      status: legacy ? this.legacyStatus : this.status,
      message: this.message,
      errorCode: this.errorCode,
      code: this.code,
      timestamp: Date.now(),
    };
  }
}

export const isRpcError = (error: unknown): error is RpcError => error instanceof RpcError;

/** Any thrown value as an RpcError, so every protocol answers with a row of the table. */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new RpcError('IOT_ERR_INTERNAL', detail, { cause: error });
}
