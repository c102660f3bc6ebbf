import type { IConnectPacket } from 'mqtt-packet';
import type { ProtocolVersion } from '../codec.js';
import type { MqttConnection } from '../connection.js';
import { CONNACK_V3, REASON } from '../reason-codes.js';

/** CONNECT: the username is the device's access token (SPEC.md). */
export function handleConnect(connection: MqttConnection, packet: IConnectPacket): void {
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  connection.version = version;
  const v5 = version === 5;
  if (connection.overCapacity) {
    connection.context.logger.debug({ remote: connection.remoteAddress, max: connection.context.maxMqttConnections }, 'mqtt connect refused: the listener is full');
    return connection.refuse(v5 ? REASON.SERVER_BUSY : CONNACK_V3.SERVER_UNAVAILABLE);
  }
  const token = packet.username ?? '';
  if (token.length === 0) return connection.refuse(v5 ? REASON.BAD_USER_NAME_OR_PASSWORD : CONNACK_V3.BAD_USERNAME_OR_PASSWORD);
  const { devices, actors, logger, maxMqttPacketBytes } = connection.context;
  const device = devices.byToken(token);
  if (device === undefined) {
    logger.debug({ remote: connection.remoteAddress }, 'mqtt connect with unknown access token');
    return connection.refuse(v5 ? REASON.NOT_AUTHORIZED : CONNACK_V3.NOT_AUTHORIZED);
  }
  // [MQTT-3.1.3-8]: 3.1.1 refuses an empty client id unless the session is clean; MQTT 5 assigns one.
  if (!v5 && packet.clientId.length === 0 && packet.clean === false) return connection.refuse(CONNACK_V3.IDENTIFIER_REJECTED);
  connection.accept(device, packet.keepalive ?? 0);
  connection.peerMaxPacketBytes = packet.properties?.maximumPacketSize ?? Infinity;
  connection.peerReceiveMaximum = packet.properties?.receiveMaximum ?? 65535;
  if (v5) {
    connection.send({
      cmd: 'connack',
      sessionPresent: false,
      reasonCode: REASON.SUCCESS,
      properties: {
        maximumPacketSize: maxMqttPacketBytes,
        maximumQoS: 1,
        retainAvailable: false,
        sharedSubscriptionAvailable: false,
        topicAliasMaximum: 0,
        ...(packet.clientId.length === 0 ? { assignedClientIdentifier: `iot-rpc-${device.id}` } : {}),
      },
    });
  } else {
    connection.send({ cmd: 'connack', sessionPresent: false, returnCode: CONNACK_V3.ACCEPTED });
  }
  actors.attach(device.id, connection);
}
