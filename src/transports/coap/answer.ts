import type { RpcError } from '../../errors.js';
import type { CoapOption } from './codec.js';

/** What a request handler answers with; the server makes it piggybacked, NON, or separate. */
export interface CoapAnswer {
  readonly code: string;
  readonly payload?: Buffer;
  readonly options?: readonly CoapOption[];
}

/** An error as CoAP answers it: the error table's code, the message as a diagnostic payload (RFC 7252 §5.5.2). */
export function errorAnswer(error: RpcError, options?: readonly CoapOption[]): CoapAnswer {
  return { code: error.coap, payload: Buffer.from(error.message), options };
}
