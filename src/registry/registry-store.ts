import type { Device } from './device-registry.js';
import type { User } from './user-directory.js';

/** A user as the shared store keeps it: never a plain password. */
export interface StoredUser extends User {
  readonly passwordHash: string;
}

/** What one node tells the others when it changes the registry. */
export type RegistryChange =
  | { readonly op: 'device-added'; readonly node: string; readonly device: Device }
  | { readonly op: 'device-removed'; readonly node: string; readonly device: Device }
  | { readonly op: 'user-added'; readonly node: string; readonly user: StoredUser };

/**
 * Devices and users shared by every node of a cluster. Each node keeps its
 * registry in memory (looked up on every CONNECT and request); the store is
 * where changes are decided (uniqueness is checked there, atomically) and from
 * where they reach the other nodes.
 */
export interface RegistryStore {
  /** Everything stored: a node fills its registry from this at start and after an outage. */
  load(): Promise<{ devices: Device[]; users: StoredUser[] }>;
  /** Throws IOT_ERR_CONFLICT when the id, the access token or the name within the tenant is taken. */
  addDevice(device: Device): Promise<void>;
  removeDevice(device: Device): Promise<void>;
  /** One device, read from the store (a node that has not heard of it yet). */
  getDevice(id: string): Promise<Device | undefined>;
  /** Throws IOT_ERR_CONFLICT when the email is taken. */
  addUser(user: StoredUser): Promise<void>;
  /** Changes made by other nodes. */
  onChange(listener: (change: RegistryChange) => void): Promise<void>;
}
