export { DeviceRegistry } from './device-registry.js';
export type { Device, NewDevice, Page } from './device-registry.js';
export { UserDirectory } from './user-directory.js';
export type { NewUser, Role, User } from './user-directory.js';
