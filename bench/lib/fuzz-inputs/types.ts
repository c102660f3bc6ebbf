import type { Rng } from '../prng.js';

export const FUZZ_PROTOCOLS = ['mqtt', 'coap', 'http', 'ws'] as const;
export type FuzzProtocol = (typeof FUZZ_PROTOCOLS)[number];

/** What the fuzz sessions aim at: the server's ports and the names and credentials valid inputs carry. */
export interface FuzzTargets {
  mqttPort: number;
  httpPort: number;
  coapPort: number;
  /** Access tokens of devices the fuzzer may connect as (never the echo device's). */
  deviceTokens: readonly string[];
  /** Ids of those devices. */
  deviceIds: readonly string[];
  gatewayToken: string;
  /** A device connected throughout (MQTT, echo): REST and WebSocket calls to it are answered. */
  echoDeviceId: string;
  username: string;
  password: string;
  /** A TENANT_ADMIN access token (JWT) from /api/auth/login. */
  jwt: string;
  refreshToken: string;
}

/** One input: a message, valid or mutated, with what was done to it. */
export interface FuzzInput {
  label: string;
  bytes: Buffer;
}

/**
 * One session: a connection (TCP) or an endpoint (UDP) fed its inputs, then
 * a probe, a valid message the server answers when it is still in step with
 * the session. `writes` are the inputs as they go on the wire: one input per
 * write, several batched in one write, or one split over several.
 */
export interface FuzzSession {
  inputs: FuzzInput[];
  writes: Buffer[];
  probe: Buffer;
  /** What the answer reader needs to know of the session (MQTT's protocol level, the probe's CoAP message id). */
  facts: Record<string, number>;
}

/** One thing the server said, as a key (`connack 5`, `http 413`, `coap 4.00`) and whether it refuses or reports an error. */
export interface Answer {
  key: string;
  error: boolean;
}

/** Reads the server's bytes (a TCP stream, or one datagram at a time for UDP). */
export interface AnswerReader {
  push(data: Buffer): void;
  /** The probe was answered: the server kept up with the session. */
  readonly probeAnswered: boolean;
}

export interface ProtocolFuzzer {
  readonly protocol: FuzzProtocol;
  readonly transport: 'tcp' | 'udp';
  port(targets: FuzzTargets): number;
  /** Session `rng` of a run: the same generator state gives the same session. */
  session(rng: Rng, targets: FuzzTargets): FuzzSession;
  /** A reader for one session's answers; `onAnswer` for each message the server sent. */
  reader(session: FuzzSession, onAnswer: (answer: Answer) => void): AnswerReader;
}
