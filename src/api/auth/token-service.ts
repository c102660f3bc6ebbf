import { randomUUID, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { RpcError } from '../../errors.js';
import type { Role, User } from '../../registry/user-directory.js';

export interface JwtSettings {
  readonly secret?: string;
  readonly algorithm: 'HS256' | 'HS512';
  readonly issuer: string;
  readonly accessTtlSec: number;
  readonly refreshTtlSec: number;
  readonly publicKey?: string;
  readonly publicKeyAlgorithm?: 'RS256' | 'ES256';
  readonly jwksUrl?: string;
}

/** What a verified access token says about its bearer. */
export interface Principal {
  readonly email: string;
  readonly userId: string;
  readonly role: Role;
  readonly tenantId: string | null;
  readonly customerId: string | null;
  readonly expiresAt: number;
}

const REFRESH_SCOPE = 'REFRESH_TOKEN';
const ROLES = new Set<string>(['SYS_ADMIN', 'TENANT_ADMIN', 'CUSTOMER_USER']);
const CACHE_LIMIT = 10_000;

/**
 * Issues and verifies JWTs with jose. jose verifies ~10k tokens/s where a Map
 * lookup does millions (DESIGN.md), so verified access tokens are cached until
 * their `exp`. Each algorithm family has its own key: HMAC tokens only ever
 * meet the secret, RS256/ES256 tokens only the public key or JWKS, so neither
 * `alg: none` nor algorithm confusion gets through.
 */
export class TokenService {
  readonly #settings: JwtSettings;
  readonly #secret: Uint8Array | undefined;
  readonly #publicKey: KeyObject | undefined;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  readonly #cache = new Map<string, Principal>();

  constructor(settings: JwtSettings) {
    this.#settings = settings;
    this.#secret = settings.secret === undefined ? undefined : new TextEncoder().encode(settings.secret);
    this.#publicKey = settings.publicKey === undefined ? undefined : createPublicKey(settings.publicKey);
    this.#jwks = settings.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(settings.jwksUrl));
  }

  async issue(user: User): Promise<{ token: string; refreshToken: string }> {
    if (this.#secret === undefined) {
      throw new RpcError('IOT_ERR_UNAVAILABLE', 'this server verifies tokens of an external identity provider and issues none (no jwt.secret)');
    }
    const { algorithm, issuer, accessTtlSec, refreshTtlSec } = this.#settings;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      userId: user.id,
      scopes: [user.role],
      tenantId: user.tenantId ?? undefined,
      customerId: user.customerId ?? undefined,
    })
      .setProtectedHeader({ alg: algorithm })
      .setSubject(user.email)
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + accessTtlSec)
      .setJti(randomUUID())
      .sign(this.#secret);
    const refreshToken = await new SignJWT({ userId: user.id, scopes: [REFRESH_SCOPE] })
      .setProtectedHeader({ alg: algorithm })
      .setSubject(user.email)
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + refreshTtlSec)
      .setJti(randomUUID())
      .sign(this.#secret);
    return { token, refreshToken };
  }

  /** The principal of a valid access token; IOT_ERR_UNAUTHORIZED / IOT_ERR_TOKEN_EXPIRED otherwise. */
  async verifyAccess(token: string): Promise<Principal> {
    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt > Date.now()) return cached;
      this.#cache.delete(token);
      throw new RpcError('IOT_ERR_TOKEN_EXPIRED');
    }
    const payload = await this.#verify(token);
    const scopes = Array.isArray(payload.scopes) ? payload.scopes : [];
    if (scopes.includes(REFRESH_SCOPE)) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'a refresh token cannot be used as an access token');
    const role = scopes.find((s): s is Role => typeof s === 'string' && ROLES.has(s));
    if (role === undefined) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'token has no role in its scopes');
    if (typeof payload.exp !== 'number') throw new RpcError('IOT_ERR_UNAUTHORIZED', 'token has no expiry');
    const principal: Principal = Object.freeze({
      email: typeof payload.sub === 'string' ? payload.sub : '',
      userId: typeof payload.userId === 'string' ? payload.userId : '',
      role,
      tenantId: typeof payload.tenantId === 'string' ? payload.tenantId : null,
      customerId: typeof payload.customerId === 'string' ? payload.customerId : null,
      expiresAt: payload.exp * 1000,
    });
    if (role !== 'SYS_ADMIN' && principal.tenantId === null) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'token has no tenantId');
    if (role === 'CUSTOMER_USER' && principal.customerId === null) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'token has no customerId');
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(token, principal);
    return principal;
  }

  /** The user id a valid refresh token was issued to. */
  async verifyRefresh(token: string): Promise<string> {
    const payload = await this.#verify(token);
    const scopes = Array.isArray(payload.scopes) ? payload.scopes : [];
    if (!scopes.includes(REFRESH_SCOPE) || typeof payload.userId !== 'string') {
      throw new RpcError('IOT_ERR_UNAUTHORIZED', 'not a refresh token');
    }
    return payload.userId;
  }

  async #verify(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new RpcError('IOT_ERR_UNAUTHORIZED', 'malformed token');
    }
    const options = { issuer: this.#settings.issuer };
    try {
      if ((alg === 'HS256' || alg === 'HS512') && this.#secret !== undefined) {
        return (await jwtVerify(token, this.#secret, { ...options, algorithms: [this.#settings.algorithm] })).payload;
      }
      if (alg !== undefined && alg === this.#settings.publicKeyAlgorithm && this.#publicKey !== undefined) {
        return (await jwtVerify(token, this.#publicKey, { ...options, algorithms: [alg] })).payload;
      }
      if ((alg === 'RS256' || alg === 'ES256') && this.#jwks !== undefined) {
        return (await jwtVerify(token, this.#jwks, { ...options, algorithms: ['RS256', 'ES256'] })).payload;
      }
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new RpcError('IOT_ERR_TOKEN_EXPIRED');
      if (error instanceof joseErrors.JOSEError) throw new RpcError('IOT_ERR_UNAUTHORIZED', error.message);
      throw new RpcError('IOT_ERR_UNAUTHORIZED', (error as Error).message);
    }
    throw new RpcError('IOT_ERR_UNAUTHORIZED', `algorithm ${alg ?? 'none'} is not accepted`);
  }
}
