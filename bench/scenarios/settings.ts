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
