/** The byte pipe under one MQTT connection: a TCP socket or a WebSocket. */
export interface MqttWire {
  readonly kind: 'mqtt' | 'mqtt-ws';
  readonly remoteAddress: string;
  /** False when the peer is gone and nothing was written. */
  write(bytes: Buffer): boolean;
  /** Flushes what was written, then closes, whether or not the peer answers. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
}
