import type { IPublishPacket } from 'mqtt-packet';
import { JsonTooDeepError, parseBoundedJson } from '../../../bounded-json.js';
import type { MqttConnection } from '../connection.js';
import { encodePublish, encodePuback } from '../codec.js';
import { REASON } from '../reason-codes.js';
import { handleAttributesRequest, handleDeviceData } from './device-data.js';
import { handleGatewayPublish } from './gateway.js';
import { RPC_TOPICS, classifyPublishTopic, hasWildcard, isValidTopicFilter, type TopicStyle } from '../topics.js';

/** PUBLISH from a device: a reply to a server-side call, a client-side call, or a topic we do not serve. */
export function handlePublish(connection: MqttConnection, packet: IPublishPacket): void {
  const device = connection.device!;
  const { actors, logger } = connection.context;
  if (packet.qos === 2) return connection.disconnect(REASON.QOS_NOT_SUPPORTED); // CONNACK said Maximum QoS 1
  if (hasWildcard(packet.topic)) return connection.disconnect(REASON.TOPIC_NAME_INVALID); // [MQTT-3.3.2-2]
  if (packet.properties?.topicAlias !== undefined) return connection.disconnect(REASON.PROTOCOL_ERROR); // Topic Alias Maximum 0
  let reasonCode: number = REASON.SUCCESS;
  if (packet.topic.startsWith(GATEWAY_PREFIX)) return acknowledge(connection, packet, handleGatewayPublish(connection, packet));
  const topic = classifyPublishTopic(packet.topic);
  switch (topic.kind) {
    case 'rpc-response':
      // MQTT 5: Correlation Data, when the device sends it back, must be the call's own.
      if (!actors.reply(device.id, topic.id, packet.payload as Buffer, packet.properties?.correlationData?.toString('utf8'))) {
        logger.debug({ device: device.id, requestId: topic.id }, 'reply to no pending call (orphan)');
        reasonCode = REASON.NO_MATCHING_SUBSCRIBERS;
      }
      break;
    case 'rpc-request':
      answerClientCall(connection, packet, topic.style, topic.id).catch((error: unknown) => connection.reportFailure(error));
      break;
    case 'telemetry':
    case 'attributes':
      return acknowledge(connection, packet, handleDeviceData(connection, packet, topic.kind));
    case 'attributes-request':
      reasonCode = handleAttributesRequest(connection, packet, topic.style, topic.id);
      break;
    case 'other':
      logger.debug({ device: device.id, topic: packet.topic }, 'publish to a topic this server does not serve');
      reasonCode = REASON.NO_MATCHING_SUBSCRIBERS;
      break;
  }
  if (packet.qos === 1) sendPuback(connection, packet, reasonCode);
}

const GATEWAY_PREFIX = 'v1/gateway/';

/**
 * The PUBACK once the message is dealt with. Data the cluster's value store could not keep (UNSPECIFIED_ERROR) is
 * told as MQTT can: a PUBACK 0x80 to an MQTT 5 QoS 1 message; otherwise, as ThingsBoard does, the connection closes.
 */
function acknowledge(connection: MqttConnection, packet: IPublishPacket, outcome: number | Promise<number>): void {
  if (typeof outcome !== 'number') {
    outcome.then((reasonCode) => connection.closed || acknowledge(connection, packet, reasonCode), (error: unknown) => connection.reportFailure(error));
    return;
  }
  if (outcome === REASON.UNSPECIFIED_ERROR && (packet.qos === 0 || connection.version !== 5)) return connection.disconnect(outcome);
  if (packet.qos === 1) sendPuback(connection, packet, outcome);
}

function sendPuback(connection: MqttConnection, packet: IPublishPacket, reasonCode: number): void {
  connection.sendFrame(encodePuback(packet.messageId!, connection.version, reasonCode));
}

async function answerClientCall(connection: MqttConnection, packet: IPublishPacket, style: TopicStyle, id: string): Promise<void> {
  const device = connection.device!;
  let payload: string;
  let request: unknown;
  try {
    request = parseBoundedJson(packet.payload.toString(), connection.context.maxJsonDepth);
  } catch (error) {
    request = error instanceof JsonTooDeepError ? error : undefined;
  }
  if (request instanceof JsonTooDeepError) {
    payload = JSON.stringify({ error: `Invalid request: ${request.message}` });
  } else if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    payload = JSON.stringify({ error: 'Invalid request: expected a JSON object {"method","params"}' });
  } else {
    const { method, params } = request as { method?: unknown; params?: unknown };
    payload = await connection.context.clientRpc.invokeAsJson(device, method, params);
  }
  const responseTopic = packet.properties?.responseTopic;
  // mqtt-packet gives null for a Response Topic it could not read as UTF-8.
  const useResponseTopic = connection.version === 5 && typeof responseTopic === 'string' && isValidTopicFilter(responseTopic) && !hasWildcard(responseTopic);
  const correlationData = packet.properties?.correlationData;
  connection.sendFrame(
    encodePublish(
      {
        topic: useResponseTopic ? responseTopic : RPC_TOPICS[style].response + id,
        payload,
        qos: 0,
        ...(connection.version === 5 && correlationData !== undefined ? { properties: { correlationData } } : {}),
      },
      connection.version,
    ),
  );
}
