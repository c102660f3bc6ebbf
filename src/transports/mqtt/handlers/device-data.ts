import type { IPublishPacket } from 'mqtt-packet';
import { parseBoundedJson } from '../../../bounded-json.js';
import { DeviceDataError } from '../../../device-data/device-data-payload.js';
import { attributesAnswer, parseAttributesRequest, type AttributesRequest } from '../../../device-data/attributes-request.js';
import type { MqttConnection } from '../connection.js';
import { encodePublish } from '../codec.js';
import { REASON } from '../reason-codes.js';
import { DATA_TOPICS, topicMatches, type TopicStyle } from '../topics.js';

/**
 * ThingsBoard's device data over MQTT: telemetry and client attributes are kept as latest values (PUBACK 0x00);
 * an attribute request is answered on `…/attributes/response/{id}`. A payload that is not what ThingsBoard takes
 * gets PUBACK 0x99 (MQTT 5; 3.1.1 has no reason codes), one past the data limits 0x97; the session stays.
 */
export async function handleDeviceData(connection: MqttConnection, packet: IPublishPacket, kind: 'telemetry' | 'attributes'): Promise<number> {
  const device = connection.device!;
  const { deviceData, maxJsonDepth } = connection.context;
  try {
    await deviceData.recordFromDevice(device, kind, parseBoundedJson(packet.payload.toString(), maxJsonDepth));
    return REASON.SUCCESS;
  } catch (error) {
    return refusalCode(connection, device.id, kind, error);
  }
}

/** The PUBACK reason code for data refused: 0x97 past the limits, 0x80 when the cluster's store is away, else 0x99. */
export function refusalCode(connection: MqttConnection, deviceId: string, kind: string, error: unknown): number {
  const reason = error instanceof DeviceDataError ? error.reason : 'format';
  connection.context.logger[reason === 'unavailable' ? 'warn' : 'debug']({ device: deviceId, kind, reason: (error as Error).message }, 'device data refused');
  return reason === 'limit' ? REASON.QUOTA_EXCEEDED : reason === 'unavailable' ? REASON.UNSPECIFIED_ERROR : REASON.PAYLOAD_FORMAT_INVALID;
}

/** `v1/devices/me/attributes/request/{id}` `{"clientKeys","sharedKeys"}`: the answer goes to `…/response/{id}`. */
export function handleAttributesRequest(connection: MqttConnection, packet: IPublishPacket, style: TopicStyle, id: string): number {
  const device = connection.device!;
  const { deviceData, maxJsonDepth } = connection.context;
  const topic = DATA_TOPICS[style].response + id;
  let request: AttributesRequest;
  try {
    request = parseAttributesRequest(parseBoundedJson(packet.payload.length === 0 ? '{}' : packet.payload.toString(), maxJsonDepth));
  } catch (error) {
    publishToDevice(connection, topic, JSON.stringify({ error: `Invalid attribute request: ${(error as Error).message}` }));
    return REASON.PAYLOAD_FORMAT_INVALID;
  }
  attributesAnswer(deviceData, device.id, request).then(
    (answer) => connection.closed || publishToDevice(connection, topic, JSON.stringify(answer)),
    (error: unknown) => connection.closed || publishToDevice(connection, topic, JSON.stringify({ error: (error as Error).message })),
  );
  return REASON.SUCCESS;
}

/** A message from the server on one of the device's topics, if one of its filters takes it (QoS 0). */
export function publishToDevice(connection: MqttConnection, topic: string, payload: string): void {
  const filters = connection.filters;
  if (filters === null || ![...filters.keys()].some((filter) => topicMatches(filter, topic))) return;
  connection.sendFrame(encodePublish({ topic, payload, qos: 0 }, connection.version));
}
