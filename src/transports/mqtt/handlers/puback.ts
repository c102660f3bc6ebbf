import type { IPubackPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.js';

/** PUBACK of a QoS 1 request marks the call delivered (SPEC.md). */
export function handlePuback(connection: MqttConnection, packet: IPubackPacket): void {
  const entry = connection.takeInflight(packet.messageId ?? 0);
  if (entry === undefined) return;
  if (typeof entry === 'number') connection.context.actors.acknowledge(connection.device!.id, entry);
  else connection.context.actors.acknowledge(entry.deviceId, entry.requestId);
  connection.slotFreed();
}
