import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseBoundedJson } from '../bounded-json.js';
import { RpcError, toRpcError } from '../errors.js';

/** How long a body may take once its headers arrived; set by the standalone server (limits.httpBodyTimeoutMs). */
export interface BodyLimits {
  readonly maxHttpBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly httpBodyTimeoutMs: number;
}

/** Reads a JSON body: 400 for a wrong content type, bad JSON or JSON nested past `maxJsonDepth`, 413 past `maxHttpBodyBytes` (checked before buffering), 408 when it takes longer than `httpBodyTimeoutMs`. */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new RpcError('IOT_ERR_UNSUPPORTED_CONTENT_TYPE', contentType === '' ? 'none' : contentType);
  }
  return parseJson(await readBody(req, limits), limits.maxJsonDepth);
}

/** JSON text as a value; 400 IOT_ERR_INVALID_JSON with the parser's reason, or when it nests deeper than `maxDepth`. */
export function parseJson(text: string, maxDepth: number): unknown {
  try {
    return parseBoundedJson(text, maxDepth);
  } catch (error) {
    throw new RpcError('IOT_ERR_INVALID_JSON', (error as Error).message);
  }
}

/**
 * Reads a body as UTF-8 text, whatever its type; 413 past `maxHttpBodyBytes` (checked before buffering), 408 when
 * it has not all arrived within `httpBodyTimeoutMs` (a declared body that never comes, a chunked one without end):
 * the connection is then closed, since the rest of the body may still come.
 */
export function readBody(req: IncomingMessage, limits: Pick<BodyLimits, 'maxHttpBodyBytes' | 'httpBodyTimeoutMs'>): Promise<string> {
  const limit = limits.maxHttpBodyBytes;
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new RpcError('IOT_ERR_PAYLOAD_TOO_LARGE', `body of ${declared} bytes, limit ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const timer = setTimeout(() => {
      if (failed) return;
      failed = true;
      chunks.length = 0;
      reject(new RpcError('IOT_ERR_REQUEST_TIMEOUT', `the body was not complete ${limits.httpBodyTimeoutMs} ms after the headers`));
    }, limits.httpBodyTimeoutMs);
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        clearTimeout(timer);
        chunks.length = 0;
        reject(new RpcError('IOT_ERR_PAYLOAD_TOO_LARGE', `body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      if (!failed) reject(new RpcError('IOT_ERR_BAD_REQUEST', `body could not be read: ${error.message}`));
      failed = true;
    });
    req.on('end', () => {
      clearTimeout(timer);
      if (!failed) resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    req.on('close', () => clearTimeout(timer));
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}

/** The same answer written on a bare socket (a request node:http could not parse, a refused upgrade), which then closes. */
export function endSocketWithError(socket: Duplex, error: RpcError): void {
  // A socket node:http has already ended (a 413 with connection: close, and an upgrade pipelined behind it) takes no
  // more writes; and a write that fails must not become an unhandled 'error' that ends the process.
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify(error.toBody());
  const retryAfter = error.code === 'IOT_ERR_OVERLOADED' ? 'retry-after: 1\r\n' : '';
  socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\ncontent-type: application/json\r\nconnection: close\r\n${retryAfter}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** SPEC.md's error body; the legacy endpoint answers with ThingsBoard's status codes. */
export function sendError(res: ServerResponse, error: unknown, legacy = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const rpcError = toRpcError(error);
  const body = rpcError.toBody(legacy);
  if (rpcError.code === 'IOT_ERR_PAYLOAD_TOO_LARGE' || rpcError.code === 'IOT_ERR_REQUEST_TIMEOUT') res.setHeader('connection', 'close');
  if (rpcError.code === 'IOT_ERR_OVERLOADED') res.setHeader('retry-after', '1');
  sendJson(res, body.status, body);
}
