import { z } from 'zod';
import { ERRORS } from '../../errors.js';
import { PERSISTENT_STATUSES } from '../../persistence/call-store.js';

/**
 * What the REST API answers, as zod schemas: the API document (`/api/openapi.json`) is generated from them and
 * from the request schemas the routes validate with, and the tests check real answers against it.
 */
export const errorBody = z
  .object({
    status: z.number().int(),
    message: z.string(),
    errorCode: z.number().int().describe("ThingsBoard's numeric error code"),
    code: z.enum(Object.keys(ERRORS) as [keyof typeof ERRORS, ...Array<keyof typeof ERRORS>]),
    timestamp: z.number().int(),
  })
  .meta({ id: 'ErrorBody', description: 'Every error, on every route (docs/errors.md lists the codes).' });

const entityId = (entityType: string) => z.object({ entityType: z.literal(entityType), id: z.string() });

export const tokenPair = z.object({ token: z.string().describe('access JWT'), refreshToken: z.string() }).meta({ id: 'TokenPair' });

export const device = z
  .object({
    id: entityId('DEVICE'),
    createdTime: z.number().int(),
    tenantId: entityId('TENANT'),
    customerId: entityId('CUSTOMER').describe("ThingsBoard's null customer id 13814000-1dd2-11b2-8080-808080808080 when unassigned"),
    name: z.string(),
    type: z.string(),
    label: z.string().nullable(),
    deviceProfileId: entityId('DEVICE_PROFILE'),
    additionalInfo: z.looseObject({ gateway: z.boolean(), gatewayId: z.string().optional() }),
    state: z.enum(['offline', 'connected', 'subscribed', 'closed']).describe("iot-rpc's own: the device's session on this node"),
    accessToken: z.string().optional().describe("to the tenant's administrators only"),
  })
  .meta({ id: 'Device', description: "ThingsBoard's Device JSON" });

const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ data: z.array(item), totalPages: z.number().int(), totalElements: z.number().int(), hasNext: z.boolean() }).meta({ id });

export const devicePage = pageOf(device, 'DevicePage');

export const storedCall = z
  .object({
    id: z.string(),
    createdTime: z.number().int(),
    tenantId: z.string(),
    deviceId: z.string(),
    expirationTime: z.number().int(),
    request: z.object({ method: z.string(), params: z.unknown(), oneway: z.boolean(), timeout: z.number().int(), retries: z.number().int() }),
    response: z.unknown(),
    status: z.enum(PERSISTENT_STATUSES as [string, ...string[]]),
    additionalInfo: z.unknown(),
  })
  .meta({ id: 'PersistentCall' });

export const storedCallPage = pageOf(storedCall, 'PersistentCallPage');

export const rpcAccepted = z.object({ rpcId: z.string() }).meta({ id: 'PersistentCallAccepted' });

export const anyJson = z.unknown().describe("the device's reply, as it sent it");

export const bulkAnswer = z
  .object({
    results: z.array(
      z.object({
        deviceId: z.string(),
        status: z.number().int().describe('what a single call would have answered'),
        response: z.unknown().optional(),
        rpcId: z.string().optional(),
        error: z.object({ code: z.string(), message: z.string() }).optional(),
      }),
    ),
    summary: z.object({ total: z.number().int(), ok: z.number().int(), failed: z.number().int(), byCode: z.record(z.string(), z.number().int()) }),
  })
  .meta({ id: 'BulkAnswer' });

export const latestTelemetry = z.record(z.string(), z.array(z.object({ ts: z.number().int(), value: z.unknown() }))).meta({ id: 'LatestTelemetry' });

export const attributeRows = z.array(z.object({ key: z.string(), value: z.unknown(), lastUpdateTs: z.number().int() })).meta({ id: 'AttributeRows' });

export const attributesAnswer = z.object({ client: z.record(z.string(), z.unknown()).optional(), shared: z.record(z.string(), z.unknown()).optional() }).meta({ id: 'AttributesAnswer' });

export const keyValues = z.record(z.string(), z.unknown()).describe('key → value');

export const polledCall = z.object({ id: z.number().int(), method: z.string(), params: z.unknown() }).meta({ id: 'PolledCall' });

export const health = z
  .object({
    status: z.enum(['pass', 'fail']),
    output: z.string().optional(),
    checks: z.record(z.string(), z.array(z.object({ status: z.enum(['pass', 'fail']), output: z.string().optional() }))),
  })
  .meta({ id: 'Health', description: 'The IETF health-check draft (application/health+json)' });
