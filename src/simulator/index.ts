export { DeviceSimulator, SIMULATOR_TRANSPORTS, splitHostPort } from './device-simulator.js';
export type { SimulatorOptions, SimulatorStatus, SimulatorTransport } from './device-simulator.js';
export { provisionDevices } from './provision.js';
export type { ProvisionOptions, ProvisionResult } from './provision.js';
export { createBehaviour, PROFILE_NAMES } from './profiles.js';
export type { DeviceBehaviour, ProfileName } from './profiles.js';
