/**
 * One measurement of each compared system, each against its own fresh
 * processes: the system (with its caller inside, as an embedding application
 * would call it) and the same MQTT.js device fleet with the same payload.
 */
import type { LoadResult } from '../lib/load.js';
import { findMosquitto, startMosquitto } from '../lib/mosquitto.js';
import { startProcess, type BenchProcess } from '../lib/processes.js';
import type { DeviceTransport } from './settings.js';

export interface LoadSettings {
  devices: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  rate?: number;
}

export type SystemName = 'iot-rpc' | 'limit' | 'aedes' | 'mosquitto';

async function withFleet<T>(system: BenchProcess, port: number, devices: number, layout: 'thingsboard' | 'per-device', run: () => Promise<T>, transport: DeviceTransport = 'mqtt'): Promise<T> {
  const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${port}`, '--devices', String(devices), '--layout', layout, '--transport', transport]);
  try {
    return await run();
  } finally {
    await fleet.stop();
    await system.stop();
  }
}

const loadCommand = (s: LoadSettings) => ({
  type: 'load',
  devices: s.devices,
  concurrency: s.concurrency,
  rate: s.rate,
  warmupMs: s.warmupMs,
  durationMs: s.durationMs,
});

/** iot-rpc with its devices on MQTT (default), CoAP (observe, CON) or HTTP (long-poll). */
export async function measureIotRpc(s: LoadSettings, transport: DeviceTransport = 'mqtt'): Promise<LoadResult> {
  const server = await startProcess('iot-rpc-server', ['--devices', String(s.devices), '--transport', transport]);
  return withFleet(server, server.ready[`${transport}Port`] as number, s.devices, 'thingsboard', () => server.request<LoadResult>(loadCommand(s)), transport);
}

export async function measureLimit(s: LoadSettings): Promise<LoadResult> {
  const server = await startProcess('limit-server', ['--devices', String(s.devices)]);
  return withFleet(server, server.ready.mqttPort as number, s.devices, 'thingsboard', () => server.request<LoadResult>(loadCommand(s)));
}

export async function measureAedes(s: LoadSettings): Promise<LoadResult> {
  const server = await startProcess('aedes-server', ['--devices', String(s.devices)]);
  return withFleet(server, server.ready.mqttPort as number, s.devices, 'per-device', () => server.request<LoadResult>(loadCommand(s)));
}

/** undefined when mosquitto is not installed. */
export async function measureMosquitto(s: LoadSettings): Promise<LoadResult | undefined> {
  const binary = findMosquitto();
  if (binary === undefined) return undefined;
  const broker = await startMosquitto(binary);
  try {
    const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${broker.port}`, '--devices', String(s.devices), '--layout', 'per-device']);
    try {
      const caller = await startProcess('mosquitto-caller', ['--broker-port', String(broker.port), '--broker-pid', String(broker.pid)]);
      try {
        return await caller.request<LoadResult>(loadCommand(s));
      } finally {
        await caller.stop();
      }
    } finally {
      await fleet.stop();
    }
  } finally {
    await broker.stop();
  }
}

export const MEASURE: Record<SystemName, (s: LoadSettings) => Promise<LoadResult | undefined>> = {
  'iot-rpc': measureIotRpc,
  limit: measureLimit,
  aedes: measureAedes,
  mosquitto: measureMosquitto,
};

/** What each system's figures include, printed beside them. */
export const INCLUDES: Record<SystemName, string> = {
  'iot-rpc': 'iot-rpc server process: engine, actors, MQTT transport and the caller (library call())',
  limit: 'mqtt-packet server process: a Map and a timer per call, and the caller; no actors, no auth',
  aedes: 'Aedes embedded with hand-made request/response (aedes.publish/subscribe, Map + timer) and the caller',
  mosquitto: 'caller process (MQTT.js client) only; the broker CPU is given separately',
};
