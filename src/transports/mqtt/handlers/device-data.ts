import type { IPublishPacket } from 'mqtt-packet';
import { parseBoundedJson } from '../../../bounded-json.js';
import { DeviceDataError } from '../../../device-data/device-data-payload.js';
import { attributesAnswer, parseAttributesRequest } from '../../../device-data/attributes-request.js';
import type { MqttConnection } from '../connection.js';
import { encodePublish } from '../codec.js';
import { REASON } from '../reason-codes.js';
import { DATA_TOPICS, topicMatches, type TopicStyle } from '../topics.js';

/**
 * ThingsBoard's device data over MQTT: telemetry and client attributes are kept as latest values (PUBACK 0x00);
 * an attribute request is answered on `…/attributes/response/{id}`. A payload that is not what ThingsBoard takes
 * gets PUBACK 0x99 (MQTT 5; 3.1.1 has no reason codes), one past the data limits 0x97; the session stays.
 */
export function handleDeviceData(connection: MqttConnection, packet: IPublishPacket, kind: 'telemetry' | 'attributes'): number {
  const device = connection.device!;
  const { deviceData, logger, maxJsonDepth } = connection.context;
  try {
    const payload = parseBoundedJson(packet.payload.toString(), maxJsonDepth);
    deviceData.recordFromDevice(device, kind, payload);
    return REASON.SUCCESS;
  } catch (error) {
    logger.debug({ device: device.id, kind, reason: (error as Error).message }, 'device data refused');
    return error instanceof DeviceDataError && error.reason === 'limit' ? REASON.QUOTA_EXCEEDED : REASON.PAYLOAD_FORMAT_INVALID;
  }
}

/** `v1/devices/me/attributes/request/{id}` `{"clientKeys","sharedKeys"}`: the answer goes to `…/response/{id}`. */
export function handleAttributesRequest(connection: MqttConnection, packet: IPublishPacket, style: TopicStyle, id: string): number {
  const device = connection.device!;
  const { deviceData, maxJsonDepth } = connection.context;
  let answer: string;
  let reasonCode: number = REASON.SUCCESS;
  try {
    const request = parseAttributesRequest(parseBoundedJson(packet.payload.length === 0 ? '{}' : packet.payload.toString(), maxJsonDepth));
    answer = JSON.stringify(attributesAnswer(deviceData, device.id, request));
  } catch (error) {
    answer = JSON.stringify({ error: `Invalid attribute request: ${(error as Error).message}` });
    reasonCode = REASON.PAYLOAD_FORMAT_INVALID;
  }
  publishToDevice(connection, DATA_TOPICS[style].response + id, answer);
  return reasonCode;
}

/** A message from the server on one of the device's topics, if one of its filters takes it (QoS 0). */
export function publishToDevice(connection: MqttConnection, topic: string, payload: string): void {
  const filters = connection.filters;
  if (filters === null || ![...filters.keys()].some((filter) => topicMatches(filter, topic))) return;
  connection.sendFrame(encodePublish({ topic, payload, qos: 0 }, connection.version));
}
