import type { MqttConnection } from '../connection.js';

/** DISCONNECT from the client: close without answering [MQTT-3.14.4]. */
export function handleDisconnect(connection: MqttConnection): void {
  connection.hangUp();
}
