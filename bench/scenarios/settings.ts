import type { FuzzProtocol } from '../lib/fuzz-inputs/index.js';

export interface BenchSettings {
  devices: number;
  concurrency: number;
  seconds: number;
  warmup: number;
  rounds: number;
  /** fixed-rate: calls per second; default half the measured maximum. */
  rate?: number;
  /** idle-devices: how many devices at each step. */
  sizes: number[];
  outDir: string;
  /** How the devices reach iot-rpc in rpc-mqtt and fixed-rate: mqtt (default), coap or http. */
  transport: DeviceTransport;
  /** recovery: persistent calls to recover. */
  calls: number;
  /** fuzz: the protocol to fuzz, or all four in turn. */
  protocol: FuzzProtocol | 'all';
  /** fuzz: inputs per protocol. */
  count: number;
  /** fuzz: the PRNG seed; random (and printed) when not given. */
  seed?: number;
  /** fuzz: connections (or UDP endpoints) open at a time. */
  connections: number;
  /** fuzz: how far above its RSS before the fuzz the server may stay after it, in MiB. */
  rssBoundMiB: number;
  /** fuzz: the hard time limit of one protocol's fuzz, in seconds. */
  maxSeconds: number;
  /** fuzz: how long the server is left alone after the fuzz before its memory is read, in seconds. */
  settleSeconds: number;
  /** soak: how long, in minutes. */
  minutes: number;
  /** peer-bounds: each attack's size as a fraction of issue 9's (3,000 calls, 20,000 answers, 3,000 filters, 2,000 stored calls). */
  scale: number;
}

export type DeviceTransport = 'mqtt' | 'coap' | 'http';
export const DEVICE_TRANSPORTS: readonly DeviceTransport[] = ['mqtt', 'coap', 'http'];

export const loadSettings = (s: BenchSettings, rate?: number) => ({
  devices: s.devices,
  concurrency: s.concurrency,
  warmupMs: s.warmup * 1000,
  durationMs: s.seconds * 1000,
  rate,
});
