import { randomUUID } from 'node:crypto';
import { RpcError } from '../errors.js';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.js';

export type Role = 'SYS_ADMIN' | 'TENANT_ADMIN' | 'CUSTOMER_USER';

export interface User {
  readonly id: string;
  readonly email: string;
  readonly role: Role;
  readonly tenantId: string | null;
  readonly customerId: string | null;
}

export interface NewUser {
  id?: string;
  email: string;
  role: Role;
  tenantId?: string | null;
  customerId?: string | null;
  password?: string;
  passwordHash?: string;
}

/** Users who log in to the REST API. Passwords are kept only as scrypt hashes. */
export class UserDirectory {
  readonly #byEmail = new Map<string, { user: User; passwordHash: Promise<string> }>();
  readonly #byId = new Map<string, User>();

  /** Adds a user; a plain password is hashed in the background (login awaits it). */
  add(input: NewUser): User {
    const email = input.email.toLowerCase();
    if (this.#byEmail.has(email)) throw new RpcError('IOT_ERR_CONFLICT', `a user with email ${input.email} exists`);
    let passwordHash: Promise<string>;
    if (input.passwordHash !== undefined) {
      if (!isPasswordHash(input.passwordHash)) throw new RpcError('IOT_ERR_BAD_REQUEST', `passwordHash of ${input.email} is not an scrypt hash`);
      passwordHash = Promise.resolve(input.passwordHash);
    } else if (input.password !== undefined) {
      passwordHash = hashPassword(input.password);
    } else {
      throw new RpcError('IOT_ERR_BAD_REQUEST', `user ${input.email} needs a password or passwordHash`);
    }
    const user: User = Object.freeze({
      id: input.id ?? randomUUID(),
      email,
      role: input.role,
      tenantId: input.tenantId ?? null,
      customerId: input.customerId ?? null,
    });
    this.#byEmail.set(email, { user, passwordHash });
    this.#byId.set(user.id, user);
    return user;
  }

  get(id: string): User | undefined {
    return this.#byId.get(id);
  }

  /** Forgets a user (a shared write that failed). */
  remove(email: string): void {
    const found = this.#byEmail.get(email.toLowerCase());
    if (found === undefined) return;
    this.#byEmail.delete(email.toLowerCase());
    this.#byId.delete(found.user.id);
  }

  byEmail(email: string): User | undefined {
    return this.#byEmail.get(email.toLowerCase())?.user;
  }

  /** The user's scrypt hash (a plain password given to add() is hashed by then). */
  passwordHashOf(email: string): Promise<string> | undefined {
    return this.#byEmail.get(email.toLowerCase())?.passwordHash;
  }

  *all(): IterableIterator<User> {
    for (const { user } of this.#byEmail.values()) yield user;
  }

  /** The user whose email and password match, or undefined. Takes as long for an unknown email. */
  async authenticate(email: string, password: string): Promise<User | undefined> {
    const found = this.#byEmail.get(email.toLowerCase());
    const ok = await verifyPassword(password, (await found?.passwordHash) ?? DECOY_HASH);
    return ok && found !== undefined ? found.user : undefined;
  }
}

const DECOY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + Buffer.alloc(64).toString('base64');
