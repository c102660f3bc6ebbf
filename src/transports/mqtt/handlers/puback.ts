import type { IPubackPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.js';

/** PUBACK of a QoS 1 request marks the call delivered (SPEC.md). */
export function handlePuback(connection: MqttConnection, packet: IPubackPacket): void {
  const requestId = connection.takeInflight(packet.messageId ?? 0);
  if (requestId !== undefined) connection.context.actors.acknowledge(connection.device!.id, requestId);
}
