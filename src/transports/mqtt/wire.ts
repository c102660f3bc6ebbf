/** The byte pipe under one MQTT connection: a TCP socket or a WebSocket. */
export interface MqttWire {
  readonly kind: 'mqtt' | 'mqtt-ws';
  readonly remoteAddress: string;
  /** False when the peer is gone and nothing was written. */
  write(bytes: Buffer): boolean;
  /** Bytes written but not yet taken by the peer (what a slow reader makes the server hold). */
  readonly buffered: number;
  /** Calls `listener` once, when `buffered` has fallen below `belowBytes` (at once if it is). */
  onceBelow(belowBytes: number, listener: () => void): void;
  /** Flushes what was written, then closes, whether or not the peer answers. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
}
