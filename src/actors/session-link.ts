/** A request as a transport writes it to the device. */
export interface OutgoingRequest {
  readonly id: number;
  readonly method: string;
  readonly params: unknown;
  /** `params` as JSON, serialized once when the call started. */
  readonly paramsJson: string;
  /** Epoch ms after which the request is worthless (MQTT 5 Message Expiry). */
  readonly deadline: number;
  /** Unique to the call: MQTT 5 Correlation Data; a reply that carries another is not this call's. */
  readonly correlation: string;
}

/** The request as a device reads it (SPEC.md): `{"id","method","params"}`, without the id where the topic carries it (MQTT). */
export function requestJson(request: OutgoingRequest, withId: boolean): string {
  const body = `"method":${JSON.stringify(request.method)},"params":${request.paramsJson}}`;
  return withId ? `{"id":${request.id},${body}` : `{${body}`;
}

/**
 * - `sent`: written; the device's acknowledgement (PUBACK, CoAP ACK) is awaited.
 * - `delivered`: handed over with no acknowledgement to wait for (QoS 0).
 * - `failed`: could not be written; the call stays queued.
 * A link that throws fails that one call: with the RpcError it threw, or IOT_ERR_INTERNAL.
 */
export type DeliveryResult = 'sent' | 'delivered' | 'failed';

export type CloseReason = 'takeover' | 'removed' | 'shutdown';

/** One live transport session of a device, as the actors see it. Actors never touch sockets. */
export interface SessionLink {
  readonly transport: string;
  readonly remoteAddress: string;
  /** The session ends after each call it carries, and the device comes back for the next (an HTTP long-poll). */
  readonly endsAfterEachCall?: true;
  deliver(request: OutgoingRequest): DeliveryResult;
  close(reason: CloseReason): void;
}
