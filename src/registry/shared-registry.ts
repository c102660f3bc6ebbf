import type { Logger } from 'pino';
import { RpcError, isRpcError } from '../errors.js';
import type { Device, DeviceRegistry, NewDevice } from './device-registry.js';
import { inBatches } from '../scheduling/in-batches.js';
import type { RegistryChange, RegistryStore, StoredUser } from './registry-store.js';
import type { NewUser, User, UserDirectory } from './user-directory.js';

export interface SharedRegistryOptions {
  readonly store: RegistryStore;
  readonly devices: DeviceRegistry;
  readonly users: UserDirectory;
  readonly logger: Logger;
  /** A device another node deleted: its sessions here close and its calls fail. */
  readonly deviceRemoved: (deviceId: string) => void;
}

/**
 * Keeps this node's in-memory registry equal to the shared store: changes made
 * here are decided by the store first; changes made elsewhere arrive as
 * messages; after a start or an outage the whole store is read again.
 */
/** Store writes in flight at once when a node first shares its configured devices and users. */
const WRITE_BATCH = 500;

export class SharedRegistry {
  readonly #options: SharedRegistryOptions;
  /** Devices made here while the store was unreachable: written before the next reload, not dropped by it. */
  readonly #unshared = new Map<string, Device>();
  /** When each device was last removed (a count of removals): a read from the store that began earlier must not bring it back. */
  readonly #removedAt = new Map<string, number>();
  #removals = 0;

  constructor(options: SharedRegistryOptions) {
    this.#options = options;
  }

  /**
   * Subscribes to changes, writes the configured devices and users that the
   * store lacks (after the first start of a cluster, none), and takes the
   * store's registry: one read of the store when nothing had to be written.
   */
  async start(): Promise<void> {
    const { store, devices, users } = this.#options;
    await store.onChange((change) => this.#apply(change));
    const loaded = await store.load();
    const storedIds = new Set(loaded.devices.map((d) => d.id));
    const storedEmails = new Set(loaded.users.map((u) => u.email.toLowerCase()));
    const newDevices = [...devices.all()].filter((d) => !storedIds.has(d.id));
    const newUsers = [...users.all()].filter((u) => !storedEmails.has(u.email));
    await inBatches(newDevices, WRITE_BATCH, (device) => ignoreConflict(store.addDevice(device)));
    await inBatches(newUsers, WRITE_BATCH, async (user) => ignoreConflict(store.addUser(await this.#stored(user))));
    await this.reload(newDevices.length + newUsers.length === 0 ? loaded : undefined);
  }

  /** Makes the registry here what the store holds (devices removed meanwhile go, new ones come); `loaded`: a read just made. */
  async reload(loaded?: { devices: Device[]; users: StoredUser[] }): Promise<void> {
    const { store, devices, users, logger } = this.#options;
    if (this.#unshared.size > 0) loaded = undefined; // the read must include what is written now
    for (const device of [...this.#unshared.values()]) {
      // Another node may have taken its name meanwhile: then the stored one wins below.
      await ignoreConflict(store.addDevice(device));
      this.#unshared.delete(device.id);
    }
    loaded ??= await store.load();
    const stored = new Map(loaded.devices.map((d) => [d.id, d]));
    for (const device of [...devices.all()]) {
      const current = stored.get(device.id);
      if (current === undefined || JSON.stringify(current) !== JSON.stringify(device)) this.#drop(device.id, current !== undefined);
    }
    for (const device of loaded.devices) {
      if (devices.get(device.id) !== undefined) continue;
      try {
        devices.insert(device);
      } catch (error) {
        logger.warn({ err: (error as Error).message, deviceId: device.id }, 'a stored device conflicts with one configured here; the stored one is ignored on this node');
      }
    }
    // A user is the stored one on every node (same id, so tokens issued by one node refresh on another).
    for (const user of loaded.users) {
      const local = users.byEmail(user.email);
      if (local !== undefined && local.id === user.id) continue;
      if (local !== undefined) users.remove(user.email);
      users.add(user);
    }
  }

  async addDevice(input: NewDevice): Promise<Device> {
    const device = this.#options.devices.add(input);
    try {
      await this.#options.store.addDevice(device);
    } catch (error) {
      this.#options.devices.remove(device.id);
      throw storeError(error);
    }
    return device;
  }

  /** A device made here without waiting (a gateway's sub-device): shared in the background, dropped if another node took its name. */
  share(device: Device): void {
    this.#options.store.addDevice(device).catch((error: unknown) => {
      this.#options.logger.warn({ err: (error as Error).message, deviceId: device.id }, 'a device created here could not be shared with the cluster');
      if (isRpcError(error) && error.code === 'IOT_ERR_CONFLICT') this.#drop(device.id, false);
      else this.#unshared.set(device.id, device);
    });
  }

  /**
   * A device this node has not heard of may have been created on another one
   * a moment ago (its message still on the way): the store is asked, and
   * what it has is added here at once.
   */
  async fetchDevice(id: string): Promise<Device | undefined> {
    const local = this.#options.devices.get(id);
    if (local !== undefined) return local;
    const removalsBefore = this.#removals;
    const stored = await this.#options.store.getDevice(id).catch((error: unknown) => {
      throw storeError(error);
    });
    if (stored === undefined || (this.#removedAt.get(id) ?? -1) > removalsBefore) return this.#options.devices.get(id);
    try {
      return this.#options.devices.insert(stored);
    } catch {
      return this.#options.devices.get(id);
    }
  }

  async removeDevice(device: Device): Promise<void> {
    await this.#options.store.removeDevice(device).catch((error: unknown) => {
      throw storeError(error);
    });
    this.#removed(device.id);
  }

  #removed(id: string): void {
    this.#removedAt.set(id, ++this.#removals);
    // Only reads under way can be overtaken; keep the most recent removals.
    if (this.#removedAt.size > 10_000) this.#removedAt.delete(this.#removedAt.keys().next().value!);
  }

  async addUser(input: NewUser): Promise<User> {
    const user = this.#options.users.add(input);
    try {
      await this.#options.store.addUser(await this.#stored(user));
    } catch (error) {
      this.#options.users.remove(user.email);
      throw storeError(error);
    }
    return user;
  }

  #apply(change: RegistryChange): void {
    const { devices, users, logger } = this.#options;
    try {
      switch (change.op) {
        case 'device-added':
          if (devices.get(change.device.id) === undefined) devices.insert(change.device);
          return;
        case 'device-removed':
          this.#removed(change.device.id);
          return this.#drop(change.device.id, false);
        case 'user-added':
          if (users.byEmail(change.user.email) === undefined) users.add(change.user);
          return;
      }
    } catch (error) {
      logger.warn({ err: (error as Error).message, change: change.op }, 'a registry change from another node conflicts with this node; reloading');
      this.reload().catch(() => {});
    }
  }

  /** Removes a device here; `replaced` keeps its sessions (it comes back as stored at once). */
  #drop(deviceId: string, replaced: boolean): void {
    if (this.#options.devices.remove(deviceId) !== undefined && !replaced) this.#options.deviceRemoved(deviceId);
  }

  async #stored(user: User): Promise<StoredUser> {
    return { ...user, passwordHash: await this.#options.users.passwordHashOf(user.email)! };
  }
}

async function ignoreConflict(write: Promise<void>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (!isRpcError(error) || error.code !== 'IOT_ERR_CONFLICT') throw error;
  }
}

function storeError(error: unknown): RpcError {
  if (isRpcError(error)) return error;
  return new RpcError('IOT_ERR_UNAVAILABLE', `the device and user store: ${(error as Error).message}`, { cause: error });
}
