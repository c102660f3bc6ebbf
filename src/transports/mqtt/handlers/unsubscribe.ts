import type { IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.js';
import { REASON } from '../reason-codes.js';
import { RPC_TOPICS, classifySubscription } from '../topics.js';

/** UNSUBSCRIBE: dropping the last RPC request filter makes the device connected-but-not-subscribed. */
export function handleUnsubscribe(connection: MqttConnection, packet: IUnsubscribePacket): void {
  const filters = connection.filters;
  const codes = packet.unsubscriptions.map((topic) =>
    filters?.delete(topic) === true ? REASON.SUCCESS : REASON.NO_SUBSCRIPTION_EXISTED,
  );
  connection.send(
    connection.version === 5
      ? { cmd: 'unsuback', messageId: packet.messageId, granted: codes }
      : { cmd: 'unsuback', messageId: packet.messageId, granted: [] },
  );
  if (connection.rpcStyle === null) return;
  let remaining: [string, number] | undefined;
  for (const entry of filters ?? []) {
    const filter = classifySubscription(entry[0]);
    if (filter.kind === 'rpc-requests') remaining = entry;
  }
  if (remaining === undefined) {
    connection.rpcStyle = null;
    connection.context.actors.unsubscribe(connection.device!.id, connection);
    return;
  }
  const style = remaining[0].startsWith(RPC_TOPICS.v1.request) ? 'v1' : 'v2';
  connection.rpcStyle = style;
  connection.rpcQos = remaining[1] >= 1 ? 1 : 0;
}
