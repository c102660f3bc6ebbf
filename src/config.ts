import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { DEFAULT_MAX_JSON_DEPTH } from './bounded-json.js';
import { isPasswordHash } from './registry/passwords.js';

/**
 * The configuration file's shape, validated with zod so a bad file is refused
 * at start with the path of the offending field and the reason, rather than
 * failing later at first use.
 */
const id = z.string().min(1).max(255);

const jwtSchema = z
  .object({
    secret: z.string().min(32, 'must be at least 32 characters (HS512 wants a 256-bit secret or longer)').optional(),
    algorithm: z.enum(['HS256', 'HS512']).default('HS512'),
    issuer: z.string().min(1).default('iot-rpc'),
    accessTtlSec: z.number().int().positive().default(9000),
    refreshTtlSec: z.number().int().positive().default(604800),
    publicKey: z.string().optional().describe('PEM (SPKI) of an external identity provider, RS256 or ES256'),
    publicKeyAlgorithm: z.enum(['RS256', 'ES256']).optional(),
    jwksUrl: z.url().optional(),
  })
  .strict()
  .refine((j) => j.secret !== undefined || j.publicKey !== undefined || j.jwksUrl !== undefined, {
    message: 'needs a secret, a publicKey or a jwksUrl',
  })
  .refine((j) => j.publicKey === undefined || j.publicKeyAlgorithm !== undefined, {
    message: 'publicKey needs publicKeyAlgorithm (RS256 or ES256)',
    path: ['publicKeyAlgorithm'],
  });

const userSchema = z
  .object({
    id: id.optional(),
    email: z.email(),
    password: z.string().min(1).optional(),
    passwordHash: z
      .string()
      .refine(isPasswordHash, 'must be scrypt$N$r$p$salt$hash with N a power of two up to 2^20, r 1-32, p 1-16')
      .optional(),
    role: z.enum(['SYS_ADMIN', 'TENANT_ADMIN', 'CUSTOMER_USER']),
    tenantId: id.optional(),
    customerId: id.optional(),
  })
  .strict()
  .refine((u) => u.password !== undefined || u.passwordHash !== undefined, { message: 'needs password or passwordHash' })
  .refine((u) => u.role === 'SYS_ADMIN' || u.tenantId !== undefined, { message: 'needs tenantId', path: ['tenantId'] })
  .refine((u) => u.role !== 'CUSTOMER_USER' || u.customerId !== undefined, { message: 'needs customerId', path: ['customerId'] });

const deviceSchema = z
  .object({
    id: id.optional(),
    name: z.string().min(1).max(255),
    type: z.string().min(1).max(255).optional(),
    label: z.string().max(255).nullable().optional(),
    tenantId: id,
    customerId: id.nullable().optional(),
    accessToken: z.string().min(1).max(255).optional(),
    gateway: z.boolean().optional(),
  })
  .strict();

export const ORDERINGS = ['burst', 'sequential-on-ack', 'sequential-on-reply'] as const;

const rpcSchema = z
  .object({
    defaultTimeoutMs: z.number().int().positive().default(10000),
    ordering: z.enum(ORDERINGS).default('burst'),
    maxPendingPerDevice: z.number().int().positive().default(1000),
    /** Unfinished persistent calls one device may have stored; more is 429 IOT_ERR_TOO_MANY_PERSISTENT. */
    maxPersistentPerDevice: z.number().int().positive().default(1000),
    /** A stored call's params and additionalInfo, as JSON, at most; more is 413. */
    maxPersistentCallBytes: z.number().int().min(256).default(16_384),
    clientSideTimeoutMs: z.number().int().positive().default(60000),
    ttlDays: z.number().positive().default(7),
    /** Finished persistent calls kept at most (in memory per node, in Redis in all); past it the oldest go first. */
    maxFinishedPersistentCalls: z.number().int().min(1).default(100_000),
    /** Calls one bulk request has in flight at once. */
    bulkConcurrency: z.number().int().min(1).default(1000),
  })
  .strict();

const limitsSchema = z
  .object({
    maxMqttPacketBytes: z.number().int().min(128).default(65536),
    maxHttpBodyBytes: z.number().int().min(128).default(65536),
    maxCoapPayloadBytes: z.number().int().min(16).default(65536),
    maxDevicesPerGateway: z.number().int().min(1).default(10_000),
    /** How deep JSON from outside may nest (REST bodies, WebSocket frames, what devices send). */
    maxJsonDepth: z.number().int().min(2).max(1000).default(DEFAULT_MAX_JSON_DEPTH),
    /** MQTT topic filters one connection may hold, and the longest one in bytes. */
    maxSubscriptionsPerConnection: z.number().int().min(1).default(100),
    maxTopicFilterBytes: z.number().int().min(16).max(65535).default(512),
    /** Bytes written to one device connection and not yet read by it: past this, calls wait in line; other writes close it as too slow. */
    maxWriteBufferBytes: z.number().int().min(65_536).default(1_048_576),
    /** HTTP: headers must arrive within this, and a body within httpBodyTimeoutMs once they have; a long-poll still waits its own timeout. */
    httpHeadersTimeoutMs: z.number().int().min(100).default(15_000),
    httpBodyTimeoutMs: z.number().int().min(100).default(30_000),
    /** Connections open at once per listener; past it HTTP answers 503 and MQTT refuses CONNECT (server busy). */
    maxHttpConnections: z.number().int().min(1).default(10_000),
    maxMqttConnections: z.number().int().min(1).default(100_000),
    /** New REST and WebSocket calls are shed (503 IOT_ERR_OVERLOADED) while the event loop runs this far behind. */
    maxEventLoopLagMs: z.number().int().min(10).default(500),
    /** Device data (telemetry, attributes): latest values only; keys one device may hold, and the largest value as JSON. */
    maxDataKeysPerDevice: z.number().int().min(1).default(1000),
    maxDataValueBytes: z.number().int().min(16).default(8192),
    maxDataBytesPerDevice: z.number().int().min(16).default(65_536),
    /** Devices one bulk call may reach (more is 400), and the largest bulk request body (its device ids). */
    maxBulkDevices: z.number().int().min(1).default(10_000),
    maxBulkBodyBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
  })
  .strict();

/** RFC 7252 §4.8 transmission parameters for the CON messages the server sends. */
const coapSchema = z
  .object({
    ackTimeoutMs: z.number().int().min(10).default(2000),
    ackRandomFactor: z.number().min(1).default(1.5),
    maxRetransmit: z.number().int().min(0).max(20).default(4),
  })
  .strict();

/** With Redis: how long a node's claim on a device's session lasts unless renewed (every third of it). */
const clusterSchema = z
  .object({
    leaseMs: z.number().int().min(1000).max(600_000).default(15_000),
  })
  .strict();

const metricsSchema = z
  .object({
    /** `GET /metrics` (Prometheus text format); off: 404 and no per-call bookkeeping. */
    enabled: z.boolean().default(true),
    /** Serve it on its own port (on the server's host) instead of the HTTP API's port; null: on the HTTP port. */
    port: z.number().int().min(0).max(65535).nullable().default(null),
  })
  .strict();

const corsSchema = z
  .object({
    /** Origins whose pages may call the REST API from a browser (embedded widgets); `*` for any. */
    origins: z.array(z.union([z.literal('*'), z.url()])).default([]),
  })
  .strict();

export const configSchema = z
  .object({
    jwt: jwtSchema,
    tenants: z.array(z.object({ id, name: z.string().min(1) }).strict()).default([]),
    customers: z.array(z.object({ id, tenantId: id, name: z.string().min(1) }).strict()).default([]),
    users: z.array(userSchema).default([]),
    devices: z.array(deviceSchema).default([]),
    rpc: rpcSchema.default(rpcSchema.parse({})),
    limits: limitsSchema.default(limitsSchema.parse({})),
    coap: coapSchema.default(coapSchema.parse({})),
    cluster: clusterSchema.default(clusterSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    cors: corsSchema.default(corsSchema.parse({})),
  })
  .strict()
  .superRefine((config, ctx) => {
    const tenants = new Set(config.tenants.map((t) => t.id));
    const customers = new Map(config.customers.map((c) => [c.id, c.tenantId]));
    config.customers.forEach((c, i) => {
      if (!tenants.has(c.tenantId)) ctx.addIssue({ code: 'custom', path: ['customers', i, 'tenantId'], message: `unknown tenant ${c.tenantId}` });
    });
    const owners: Array<['users' | 'devices', { tenantId?: string; customerId?: string | null }[]]> = [
      ['users', config.users],
      ['devices', config.devices],
    ];
    for (const [section, items] of owners) {
      items.forEach((item, i) => {
        if (item.tenantId !== undefined && !tenants.has(item.tenantId)) {
          ctx.addIssue({ code: 'custom', path: [section, i, 'tenantId'], message: `unknown tenant ${item.tenantId}` });
        }
        if (item.customerId != null && customers.get(item.customerId) !== item.tenantId) {
          ctx.addIssue({ code: 'custom', path: [section, i, 'customerId'], message: `unknown customer ${item.customerId} in tenant ${item.tenantId}` });
        }
      });
    }
  });

export type ServerConfig = z.output<typeof configSchema>;
export type ServerConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates a configuration object; the error names every bad field by its path. */
export function parseConfig(input: unknown, source = 'config'): ServerConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const reasons = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`).join('\n');
    throw new ConfigError(`${source} is not a valid iot-rpc configuration:\n${reasons}`);
  }
  return result.data;
}

export async function loadConfigFile(path: string): Promise<ServerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json, path);
}
