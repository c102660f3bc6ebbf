import type { MqttConnection } from '../connection.js';

export function handlePingreq(connection: MqttConnection): void {
  connection.send({ cmd: 'pingresp' });
}
