import type { Logger } from 'pino';
import type { ActorSystem } from '../actors/system.js';
import type { HandlerRegistry } from '../client-rpc/handler-registry.js';
import type { LatestValues } from '../device-data/latest-values.js';
import type { SharedAttributeUpdates } from '../device-data/shared-attribute-updates.js';
import type { InternalErrorLog } from '../internal-error-log.js';
import type { Device, DeviceRegistry } from '../registry/device-registry.js';
import type { DeadlineScheduler } from '../scheduling/deadline-scheduler.js';

/** What a device transport needs from the engine: no more, so transports stay swappable. */
export interface TransportContext {
  readonly devices: DeviceRegistry;
  readonly actors: ActorSystem;
  readonly clientRpc: HandlerRegistry;
  /** Telemetry and attributes devices send: their latest values, and events for the application. */
  readonly deviceData: LatestValues;
  /** Shared attribute updates for the sessions that listen for them. */
  readonly attributeUpdates: SharedAttributeUpdates;
  readonly scheduler: DeadlineScheduler;
  readonly logger: Logger;
  readonly maxMqttPacketBytes: number;
  /** JSON a device sends (requests, replies) may nest at most this deep (limits.maxJsonDepth). */
  readonly maxJsonDepth: number;
  /** MQTT: topic filters one connection may hold, and the longest filter in bytes. */
  readonly maxSubscriptionsPerConnection: number;
  readonly maxTopicFilterBytes: number;
  /** Bytes written to one connection and not yet read by the peer, at most (limits.maxWriteBufferBytes). */
  readonly maxWriteBufferBytes: number;
  /** MQTT connections open at once (TCP and WebSocket); one more has its CONNECT refused, server busy. */
  readonly maxMqttConnections: number;
  /** Where a failure of the server's own code while serving a device goes: logged with its stack, rate-limited. */
  readonly internalErrors: InternalErrorLog;
  readonly maxDevicesPerGateway: number;
  /** A device made here (a gateway's sub-device) is shared with the other nodes. */
  shareDevice(device: Device): void;
}
