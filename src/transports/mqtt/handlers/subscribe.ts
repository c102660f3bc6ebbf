import type { ISubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.js';
import { REASON, SUBACK_FAILURE_V3 } from '../reason-codes.js';
import { classifySubscription, matchesGatewayRpc, type TopicStyle } from '../topics.js';

/** SUBSCRIBE: the RPC request filter makes the device subscribed; QoS is granted up to 1. */
export function handleSubscribe(connection: MqttConnection, packet: ISubscribePacket): void {
  const v5 = connection.version === 5;
  const { logger, maxSubscriptionsPerConnection, maxTopicFilterBytes } = connection.context;
  if (packet.subscriptions.length === 0) {
    // [MQTT-3.8.3-3]: a SUBSCRIBE names at least one filter.
    logger.debug({ device: connection.device!.id }, 'SUBSCRIBE without a topic filter');
    return connection.disconnect(REASON.PROTOCOL_ERROR);
  }
  const filters = (connection.filters ??= new Map());
  let rpc: { style: TopicStyle; qos: 0 | 1 } | undefined;
  let gatewayQos: 0 | 1 | undefined;
  const granted = packet.subscriptions.map(({ topic, qos }) => {
    if (topic.startsWith('$share/')) return v5 ? REASON.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED : SUBACK_FAILURE_V3;
    // What one connection may make the server hold is bounded (limits.maxSubscriptionsPerConnection, maxTopicFilterBytes).
    if (Buffer.byteLength(topic) > maxTopicFilterBytes) return v5 ? REASON.TOPIC_FILTER_INVALID : SUBACK_FAILURE_V3;
    if (!filters.has(topic) && filters.size >= maxSubscriptionsPerConnection) return v5 ? REASON.QUOTA_EXCEEDED : SUBACK_FAILURE_V3;
    const filter = classifySubscription(topic);
    switch (filter.kind) {
      case 'invalid':
        return v5 ? REASON.TOPIC_FILTER_INVALID : SUBACK_FAILURE_V3;
      case 'not-authorized':
        return v5 ? REASON.NOT_AUTHORIZED : SUBACK_FAILURE_V3;
      case 'rpc-requests':
      case 'accepted': {
        const grantedQos = qos >= 1 ? 1 : 0;
        filters.set(topic, grantedQos);
        if (filter.kind === 'rpc-requests') rpc = { style: filter.style, qos: grantedQos };
        if (matchesGatewayRpc(topic)) gatewayQos = grantedQos;
        return grantedQos;
      }
    }
  });
  connection.send({ cmd: 'suback', messageId: packet.messageId, granted });
  connection.followAttributeUpdates();
  if (gatewayQos !== undefined) {
    const first = connection.gatewayQos === null;
    connection.gatewayQos = gatewayQos;
    if (first) for (const subDevice of connection.subDevices?.values() ?? []) subDevice.subscribe();
  }
  if (rpc === undefined) return;
  const first = connection.rpcStyle === null;
  connection.rpcStyle = rpc.style;
  connection.rpcQos = rpc.qos;
  if (first) connection.context.actors.subscribe(connection.device!.id, connection);
}
