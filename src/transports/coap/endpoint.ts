/** A CoAP peer: address and port. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export const endpointKey = (endpoint: Endpoint): string => `${endpoint.address}|${endpoint.port}`;

/** An exchange of ours with one endpoint: ACKs and Resets from elsewhere match nothing. */
export const messageKey = (endpoint: Endpoint, messageId: number): string => `${endpointKey(endpoint)}#${messageId}`;
