import { randomBytes } from 'node:crypto';
import { valuesOf } from '../../../device-data/attributes-request.js';
import type { LatestValue } from '../../../device-data/latest-values.js';
import { publishToDevice, refusalCode } from './device-data.js';
import { parseBoundedJson } from '../../../bounded-json.js';
import type { IPublishPacket } from 'mqtt-packet';
import { RpcError } from '../../../errors.js';
import type { Device } from '../../../registry/device-registry.js';
import type { MqttConnection } from '../connection.js';
import { GatewaySubDevice } from '../gateway-sub-device.js';
import { REASON } from '../reason-codes.js';
import { GATEWAY_TOPICS } from '../topics.js';

const MAX_NAME = 255;

/**
 * ThingsBoard's gateway API (SPEC.md): `v1/gateway/connect {"device"}`,
 * `v1/gateway/disconnect {"device"}`, and `v1/gateway/rpc` carrying replies
 * `{"device","id","data"}` and client-side calls `{"device","data":{"id","method","params"}}`.
 * Returns the PUBACK reason code.
 */
export function handleGatewayPublish(connection: MqttConnection, packet: IPublishPacket): number | Promise<number> {
  const { logger } = connection.context;
  if (!connection.device!.gateway) {
    logger.debug({ device: connection.device!.id }, 'gateway API used by a device that is not a gateway');
    return REASON.NOT_AUTHORIZED;
  }
  let message: unknown;
  try {
    message = parseBoundedJson(packet.payload.toString(), connection.context.maxJsonDepth);
  } catch {
    message = undefined;
  }
  if (packet.topic === GATEWAY_TOPICS.telemetry || packet.topic === GATEWAY_TOPICS.attributes) {
    return gatewayData(connection, message, packet.topic === GATEWAY_TOPICS.telemetry ? 'telemetry' : 'attributes');
  }
  const name = (message as { device?: unknown } | undefined)?.device;
  if (typeof message !== 'object' || message === null || typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) {
    logger.debug({ gateway: connection.device?.id, topic: packet.topic }, 'gateway message without a device name');
    return REASON.PAYLOAD_FORMAT_INVALID;
  }
  switch (packet.topic) {
    case GATEWAY_TOPICS.connect: {
      const type = (message as { type?: unknown }).type;
      return connectSubDevice(connection, name, typeof type === 'string' && type.length > 0 && type.length <= MAX_NAME ? type : undefined) === undefined ? REASON.NOT_AUTHORIZED : REASON.SUCCESS;
    }
    case GATEWAY_TOPICS.disconnect:
      connection.subDevices?.get(name)?.end();
      return REASON.SUCCESS;
    case GATEWAY_TOPICS.rpc:
      return gatewayRpc(connection, name, message as { id?: unknown; data?: unknown });
    case GATEWAY_TOPICS.attributesRequest:
      return gatewayAttributesRequest(connection, name, message as GatewayAttributesRequest);
    default:
      return REASON.NO_MATCHING_SUBSCRIBERS;
  }
}

/**
 * The sub-device's session through this gateway: its device looked up by name
 * in the gateway's tenant, created on first connect and owned like the gateway.
 * A gateway carries only devices it created: a name that belongs to any other
 * device (another gateway's, a directly connected one, the gateway itself) is refused.
 */
/**
 * `v1/gateway/telemetry {"Device A":[{"ts","values"} | {…}]}` and `v1/gateway/attributes {"Device A":{…}}`: each
 * named device is connected through the gateway (created on first use, as ThingsBoard does) and its data kept.
 * Any device's data that is not ThingsBoard's shape makes the PUBACK 0x99 (0x97 past the limits); the others are kept.
 */
async function gatewayData(connection: MqttConnection, message: unknown, kind: 'telemetry' | 'attributes'): Promise<number> {
  const { deviceData, devices } = connection.context;
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return REASON.PAYLOAD_FORMAT_INVALID;
  const outcomes: Array<Promise<number>> = [];
  for (const [name, data] of Object.entries(message)) {
    const subDevice = name.length > 0 && name.length <= MAX_NAME ? connectSubDevice(connection, name) : undefined;
    if (subDevice === undefined) {
      outcomes.push(Promise.resolve(REASON.NOT_AUTHORIZED));
      continue;
    }
    const device = devices.get(subDevice.deviceId)!;
    outcomes.push(deviceData.recordFromDevice(device, kind, data).then(() => REASON.SUCCESS, (error: unknown) => refusalCode(connection, device.id, kind, error)));
  }
  const codes = await Promise.all(outcomes);
  // A store that was away is what the gateway must hear first: that data may be sent again.
  return codes.includes(REASON.UNSPECIFIED_ERROR) ? REASON.UNSPECIFIED_ERROR : (codes.filter((code) => code !== REASON.SUCCESS).pop() ?? REASON.SUCCESS);
}

interface GatewayAttributesRequest {
  readonly id?: unknown;
  readonly client?: unknown;
  readonly key?: unknown;
  readonly keys?: unknown;
}

/**
 * `v1/gateway/attributes/request {"id","device","client":true|false,"key"|"keys"}`, answered on
 * `v1/gateway/attributes/response` with `{"id","device","value"}` (one key) or `{"id","device","values"}` (keys).
 */
function gatewayAttributesRequest(connection: MqttConnection, name: string, request: GatewayAttributesRequest): number {
  const device = connection.context.devices.byName(connection.device!.tenantId, name);
  const keys = request.keys !== undefined ? request.keys : request.key !== undefined ? [request.key] : undefined;
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string') || typeof request.client !== 'boolean') return REASON.PAYLOAD_FORMAT_INVALID;
  const found = device === undefined || device.gatewayId !== connection.device!.id ? Promise.resolve(new Map<string, LatestValue>()) : connection.context.deviceData.attributes(device.id, request.client ? 'client' : 'shared', keys as string[]);
  const id = request.id ?? null;
  found.then(
    (values) => {
      const answer = request.keys !== undefined ? { id, device: name, values: valuesOf(values) } : { id, device: name, value: values.get(request.key as string)?.value ?? null };
      if (!connection.closed) publishToDevice(connection, GATEWAY_TOPICS.attributesResponse, JSON.stringify(answer));
    },
    (error: unknown) => connection.closed || publishToDevice(connection, GATEWAY_TOPICS.attributesResponse, JSON.stringify({ id, device: name, error: (error as Error).message })),
  );
  return REASON.SUCCESS;
}

/** `type`: the device type the gateway gives on connect (ThingsBoard's `{"device","type"}`); `default` otherwise, as ThingsBoard has it. */
function connectSubDevice(connection: MqttConnection, name: string, type?: string): GatewaySubDevice | undefined {
  const known = connection.subDevices?.get(name);
  if (known?.open === true) return known;
  const gateway = connection.device!;
  const { devices, logger, maxDevicesPerGateway } = connection.context;
  let device: Device | undefined = devices.byName(gateway.tenantId, name);
  if (device !== undefined && device.gatewayId !== gateway.id) {
    logger.warn({ gateway: gateway.id, device: device.id, name }, 'gateway refused: the device is not one this gateway created');
    return undefined;
  }
  if (device === undefined) {
    if (devices.countCreatedBy(gateway.id) >= maxDevicesPerGateway) {
      logger.warn({ gateway: gateway.id, name, limit: maxDevicesPerGateway }, 'gateway refused: it has created as many devices as it may');
      return undefined;
    }
    try {
      device = devices.add({
        name,
        type: type ?? 'default',
        tenantId: gateway.tenantId,
        customerId: gateway.customerId,
        gatewayId: gateway.id,
        accessToken: randomBytes(15).toString('base64url'),
      });
      connection.context.shareDevice(device);
      logger.info({ gateway: gateway.id, device: device.id, name }, 'device created through its gateway');
    } catch (error) {
      logger.warn({ gateway: gateway.id, name, err: error instanceof RpcError ? error.message : error }, 'gateway could not create a device');
      return undefined;
    }
  }
  const subDevice = new GatewaySubDevice(connection, device.id, name);
  (connection.subDevices ??= new Map()).set(name, subDevice);
  subDevice.start();
  return subDevice;
}

function gatewayRpc(connection: MqttConnection, name: string, message: { id?: unknown; data?: unknown }): number {
  const { actors, clientRpc, devices, logger } = connection.context;
  // Replies and calls only for devices announced with v1/gateway/connect and not disconnected since.
  const subDevice = connection.subDevices?.get(name);
  if (subDevice?.open !== true) {
    logger.debug({ gateway: connection.device?.id, name }, 'gateway rpc for a device it has not connected');
    return REASON.NO_MATCHING_SUBSCRIBERS;
  }
  const data = message.data as { id?: unknown; method?: unknown; params?: unknown } | undefined;
  if (message.id !== undefined) {
    // A sub-device's reply to a server-side call.
    const id = Number(message.id);
    if (!Number.isInteger(id) || id < 1 || !actors.replyValue(subDevice.deviceId, id, data ?? null)) {
      logger.debug({ gateway: connection.device?.id, device: subDevice.deviceId, id: message.id }, 'gateway reply to no pending call (orphan)');
      return REASON.NO_MATCHING_SUBSCRIBERS;
    }
    return REASON.SUCCESS;
  }
  if (typeof data !== 'object' || data === null || data.method === undefined) return REASON.PAYLOAD_FORMAT_INVALID;
  // A sub-device's client-side call: answered on v1/gateway/rpc with the same id.
  const device = devices.get(subDevice.deviceId)!;
  const id = JSON.stringify(data.id ?? null) ?? 'null';
  clientRpc
    .invokeAsJson(device, data.method, data.params)
    .then((answer) => {
      const payload = `{"device":${JSON.stringify(name)},"id":${id},"data":${answer}}`;
      connection.send({ cmd: 'publish', topic: GATEWAY_TOPICS.rpc, payload, qos: 0, dup: false, retain: false });
    })
    .catch((error: unknown) => connection.reportFailure(error));
  return REASON.SUCCESS;
}
