import type { IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.js';
import { REASON } from '../reason-codes.js';
import { classifySubscription, matchesGatewayRpc } from '../topics.js';

/** UNSUBSCRIBE: dropping the last RPC request filter makes the device connected-but-not-subscribed. */
export function handleUnsubscribe(connection: MqttConnection, packet: IUnsubscribePacket): void {
  if (packet.unsubscriptions.length === 0) {
    // [MQTT-3.10.3-2]: an UNSUBSCRIBE names at least one filter.
    connection.context.logger.debug({ device: connection.device!.id }, 'UNSUBSCRIBE without a topic filter');
    return connection.disconnect(REASON.PROTOCOL_ERROR);
  }
  const filters = connection.filters;
  const codes = packet.unsubscriptions.map((topic) =>
    filters?.delete(topic) === true ? REASON.SUCCESS : REASON.NO_SUBSCRIPTION_EXISTED,
  );
  connection.send(
    connection.version === 5
      ? { cmd: 'unsuback', messageId: packet.messageId, granted: codes }
      : { cmd: 'unsuback', messageId: packet.messageId, granted: [] },
  );
  connection.followAttributeUpdates();
  if (connection.gatewayQos !== null) {
    const remaining = [...(filters ?? [])].find(([topic]) => matchesGatewayRpc(topic));
    connection.gatewayQos = remaining === undefined ? null : remaining[1] >= 1 ? 1 : 0;
    if (remaining === undefined) for (const subDevice of connection.subDevices?.values() ?? []) subDevice.unsubscribe();
  }
  if (connection.rpcStyle === null) return;
  for (const [topic, qos] of filters ?? []) {
    const filter = classifySubscription(topic);
    if (filter.kind === 'rpc-requests') {
      connection.rpcStyle = filter.style;
      connection.rpcQos = qos >= 1 ? 1 : 0;
      return;
    }
  }
  connection.rpcStyle = null;
  connection.context.actors.unsubscribe(connection.device!.id, connection);
}
