export { DeviceRegistry } from './device-registry.js';
export type { Device, NewDevice, Page } from './device-registry.js';
export { UserDirectory } from './user-directory.js';
export type { NewUser, Role, User } from './user-directory.js';
export { RedisRegistryStore } from './redis-registry-store.js';
export type { RegistryChange, RegistryStore, StoredUser } from './registry-store.js';
export { SharedRegistry } from './shared-registry.js';
