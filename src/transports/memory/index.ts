export { MemoryDevice } from './memory-device.js';
export type { MemoryDeviceOptions } from './memory-device.js';
