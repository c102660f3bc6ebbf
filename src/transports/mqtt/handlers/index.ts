import type { Packet } from '../codec.js';
import type { MqttConnection } from '../connection.js';
import { REASON } from '../reason-codes.js';
import { handleConnect } from './connect.js';
import { handleDisconnect } from './disconnect.js';
import { handlePingreq } from './pingreq.js';
import { handlePuback } from './puback.js';
import { handlePublish } from './publish.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe } from './unsubscribe.js';

/** The one place a decoded packet is routed to its handler (aedes' lib/handlers). */
export function dispatchPacket(connection: MqttConnection, packet: Packet): void {
  if (connection.device === null) {
    // [MQTT-3.1.0-1]: the first packet from the client must be CONNECT.
    if (packet.cmd === 'connect') handleConnect(connection, packet);
    else connection.disconnect(REASON.PROTOCOL_ERROR);
    return;
  }
  switch (packet.cmd) {
    case 'publish':
      return handlePublish(connection, packet);
    case 'puback':
      return handlePuback(connection, packet);
    case 'subscribe':
      return handleSubscribe(connection, packet);
    case 'unsubscribe':
      return handleUnsubscribe(connection, packet);
    case 'pingreq':
      return handlePingreq(connection);
    case 'disconnect':
      return handleDisconnect(connection);
    case 'auth':
      return connection.disconnect(REASON.BAD_AUTHENTICATION_METHOD);
    default:
      // A second CONNECT [MQTT-3.1.0-2], QoS 2 flow packets for QoS we never use, server-only packets.
      return connection.disconnect(REASON.PROTOCOL_ERROR);
  }
}
