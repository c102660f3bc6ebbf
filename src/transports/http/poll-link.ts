import type { ServerResponse } from 'node:http';
import { requestJson, type CloseReason, type DeliveryResult, type OutgoingRequest, type SessionLink } from '../../actors/session-link.js';
import { RpcError } from '../../errors.js';
import { ScheduledTask } from '../../scheduling/scheduled-task.js';
import { sendError } from '../../api/http-io.js';
import type { TransportContext } from '../transport-context.js';

/**
 * One open long-poll of an HTTP device: its session, subscribed while the
 * poll is open. Writing a call into the response delivers it (SPEC.md: one
 * call per poll); a response that can no longer be written leaves the call
 * queued for the next poll. When the poll ends for any reason the device
 * is let go of, and its calls wait for the next poll.
 */
export class HttpPollLink implements SessionLink {
  readonly transport = 'http';
  readonly endsAfterEachCall = true;
  #open = true;
  readonly #timeout: ScheduledTask;

  constructor(
    readonly deviceId: string,
    readonly remoteAddress: string,
    readonly res: ServerResponse,
    readonly context: TransportContext,
  ) {
    this.#timeout = new ScheduledTask(context.scheduler, () => this.#timedOut());
  }

  /** Registers the poll as the device's session until `timeoutMs` passes. */
  start(timeoutMs: number): void {
    this.res.once('close', () => this.#end());
    this.#timeout.runIn(timeoutMs);
    this.context.actors.attach(this.deviceId, this);
    if (this.#open) this.context.actors.subscribe(this.deviceId, this);
  }

  deliver(request: OutgoingRequest): DeliveryResult {
    if (!this.#open || this.res.destroyed || this.res.writableEnded) return 'failed';
    const body = requestJson(request, true);
    this.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    this.res.end(body);
    this.#end(); // one call per poll
    return 'delivered';
  }

  close(reason: CloseReason): void {
    if (!this.#open) return;
    this.#open = false;
    this.#timeout.cancel();
    if (this.res.headersSent) return;
    if (reason === 'takeover') {
      this.res.writeHead(408, { 'content-length': 0 }).end(); // another poll of the same device took over
    } else {
      sendError(this.res, new RpcError(reason === 'removed' ? 'IOT_ERR_DEVICE_REMOVED' : 'IOT_ERR_SHUTTING_DOWN', this.deviceId));
    }
  }

  /** Nothing arrived before the poll's timeout: 408, empty (SPEC.md). */
  #timedOut(): void {
    if (!this.#open) return;
    if (!this.res.headersSent) this.res.writeHead(408, { 'content-length': 0 }).end();
    this.#end();
  }

  #end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#timeout.cancel();
    this.context.actors.detach(this.deviceId, this);
  }
}
