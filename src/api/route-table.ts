import { z } from 'zod';
import type { RpcEngine } from '../engine.js';
import { attributeUpdatesRoute, attributesRequestRoute, clientCallRoute, deviceDataRoute, pollRoute, replyRoute } from '../transports/http/index.js';
import type { RouteHandler } from './http-api.js';
import type { RouteDoc } from './openapi/route-doc.js';
import * as answers from './openapi/response-schemas.js';
import { rpcBodySchema } from './rpc-request.js';
import { loginRoute, loginSchema, refreshRoute, refreshSchema } from './routes/auth.js';
import { bulkRoute, bulkTargetSchema } from './routes/bulk.js';
import { createDeviceRoute, deleteDeviceRoute, devicePageQuery, getDeviceRoute, listCustomerDevicesRoute, listTenantDevicesRoute, newDeviceSchema } from './routes/devices.js';
import { livezRoute, readyzRoute } from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import { deletePersistentRoute, getPersistentRoute, listPersistentRoute, persistentQuerySchema } from './routes/persistent.js';
import { rpcRoute } from './routes/rpc.js';
import { attributesRoute, latestTelemetryRoute, sharedAttributesRoute } from './routes/telemetry.js';
import { pageQuery } from './validation.js';

export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** find-my-way's form: `/api/device/:id`. */
  readonly path: string;
  readonly handler: RouteHandler;
  readonly doc: RouteDoc;
  /** Errors in ThingsBoard's own status codes (the `/api/plugins/rpc` routes). */
  readonly legacy?: boolean;
}

const ok = (description: string, schema?: z.ZodType, contentType?: string) => ({ 200: { description, ...(schema === undefined ? {} : { schema }), ...(contentType === undefined ? {} : { contentType }) } });
const keysQuery = z.object({ keys: z.string().optional().describe('comma-separated keys; absent: every key') });
const pollQuery = z.object({ timeout: z.coerce.number().int().min(1).max(300_000).optional().describe('ms to wait, default 60000') });
const attributeKeysQuery = z.object({ clientKeys: z.string().optional(), sharedKeys: z.string().optional() });
const deviceNameQuery = devicePageQuery.extend({ deviceName: z.string().optional().describe("ThingsBoard's lookup by name: the one device instead of a page") });
const clientCallBody = z.object({ method: z.string(), params: z.unknown().optional() });
const bulkBody = rpcBodySchema.extend(bulkTargetSchema.shape);
const AUTH_ERRORS = [401, 403];

/**
 * Every REST route with what the API document says of it: the router is built from this table and the document
 * from the same entries, so neither can name a route the other lacks.
 */
export function routeTable(engine: RpcEngine): Route[] {
  const routes: Route[] = [
    { method: 'GET', path: '/livez', handler: livezRoute(), doc: { summary: 'Liveness: 200 while the process can serve', tag: 'operations', auth: 'none', responses: ok('alive', answers.health, 'application/health+json'), errors: [] } },
    {
      method: 'GET',
      path: '/readyz',
      handler: readyzRoute(engine),
      doc: { summary: 'Readiness: listeners open, persistent calls recovered, Redis reachable (cluster)', tag: 'operations', auth: 'none', responses: { ...ok('ready', answers.health, 'application/health+json'), 503: { description: 'not ready: the failing checks named', schema: answers.health, contentType: 'application/health+json' } }, errors: [] },
    },
    { method: 'POST', path: '/api/auth/login', handler: loginRoute(engine), doc: { summary: 'Log in: an access and a refresh token', tag: 'auth', auth: 'none', body: loginSchema, responses: ok('tokens', answers.tokenPair), errors: [400, 401, 415] } },
    { method: 'POST', path: '/api/auth/token', handler: refreshRoute(engine), doc: { summary: 'New tokens for a refresh token', tag: 'auth', auth: 'none', body: refreshSchema, responses: ok('tokens', answers.tokenPair), errors: [400, 401, 415] } },
    {
      method: 'POST',
      path: '/api/rpc/bulk',
      handler: bulkRoute(engine),
      doc: { summary: 'One method to many devices', tag: 'rpc', auth: 'jwt', description: 'deviceIds and/or deviceType / nameContains within the caller\'s tenant; each device\'s result once all have answered or timed out.', body: bulkBody, responses: ok('every device\'s result and a summary', answers.bulkAnswer), errors: [400, ...AUTH_ERRORS, 413, 415, 503] },
    },
    ...(['rpc', 'plugins/rpc'] as const).map(
      (prefix): Route => ({
        method: 'POST',
        path: `/api/${prefix}/:kind/:deviceId`,
        handler: rpcRoute(engine),
        legacy: prefix === 'plugins/rpc',
        doc: {
          summary: prefix === 'rpc' ? 'A server-side call: kind oneway or twoway' : "ThingsBoard's RPC endpoint: the same call, ThingsBoard's error statuses",
          tag: 'rpc',
          auth: 'jwt',
          body: rpcBodySchema,
          responses: { 200: { description: "two-way: the device's reply; one-way: empty once handed over; persistent: {\"rpcId\"}", schema: answers.anyJson } },
          errors: [400, ...AUTH_ERRORS, 404, 408, 409, 410, 413, 415, 429, 503, 504],
        },
      }),
    ),
    { method: 'GET', path: '/api/rpc/persistent/:rpcId', handler: getPersistentRoute(engine), doc: { summary: 'A persistent call', tag: 'persistent calls', auth: 'jwt', responses: ok('the call', answers.storedCall), errors: [...AUTH_ERRORS, 404] } },
    {
      method: 'GET',
      path: '/api/rpc/persistent/device/:deviceId',
      handler: listPersistentRoute(engine),
      doc: { summary: "A device's persistent calls, paged", tag: 'persistent calls', auth: 'jwt', query: persistentQuerySchema, responses: ok('a page of calls', answers.storedCallPage), errors: [400, ...AUTH_ERRORS, 404] },
    },
    { method: 'DELETE', path: '/api/rpc/persistent/:rpcId', handler: deletePersistentRoute(engine), doc: { summary: 'Withdraw and remove a persistent call', tag: 'persistent calls', auth: 'jwt', responses: ok('the call as it was removed', answers.storedCall), errors: [...AUTH_ERRORS, 404, 503] } },
    { method: 'POST', path: '/api/device', handler: createDeviceRoute(engine), doc: { summary: 'Create a device (TENANT_ADMIN)', tag: 'devices', auth: 'jwt', body: newDeviceSchema, query: z.object({ accessToken: z.string().optional() }), responses: ok('the device', answers.device), errors: [400, ...AUTH_ERRORS, 409, 413, 415] } },
    { method: 'GET', path: '/api/device/:id', handler: getDeviceRoute(engine), doc: { summary: 'A device', tag: 'devices', auth: 'jwt', responses: ok('the device', answers.device), errors: [...AUTH_ERRORS, 404] } },
    { method: 'DELETE', path: '/api/device/:id', handler: deleteDeviceRoute(engine), doc: { summary: 'Delete a device: its sessions close, its calls fail', tag: 'devices', auth: 'jwt', responses: ok('deleted', z.object({ id: z.string(), deleted: z.literal(true) })), errors: [...AUTH_ERRORS, 404] } },
    {
      method: 'GET',
      path: '/api/tenant/devices',
      handler: listTenantDevicesRoute(engine),
      doc: { summary: "The tenant's devices, paged; or one by deviceName", tag: 'devices', auth: 'jwt', query: deviceNameQuery, responses: ok('a page of devices, or the device named', z.union([answers.devicePage, answers.device])), errors: [400, ...AUTH_ERRORS, 404] },
    },
    { method: 'GET', path: '/api/customer/:customerId/devices', handler: listCustomerDevicesRoute(engine), doc: { summary: "A customer's devices, paged", tag: 'devices', auth: 'jwt', query: devicePageQuery, responses: ok('a page of devices', answers.devicePage), errors: [400, ...AUTH_ERRORS] } },
    { method: 'GET', path: '/api/plugins/telemetry/:entityType/:deviceId/values/timeseries', handler: latestTelemetryRoute(engine), doc: { summary: 'Latest telemetry (entityType DEVICE)', tag: 'device data', auth: 'jwt', query: keysQuery, responses: ok('the latest value of each key', answers.latestTelemetry), errors: [...AUTH_ERRORS, 404, 503] } },
    ...['/api/plugins/telemetry/:entityType/:deviceId/values/attributes', '/api/plugins/telemetry/:entityType/:deviceId/values/attributes/:scope'].map(
      (path): Route => ({ method: 'GET', path, handler: attributesRoute(engine), doc: { summary: 'Latest attributes (scope CLIENT_SCOPE or SHARED_SCOPE; both when absent)', tag: 'device data', auth: 'jwt', query: keysQuery, responses: ok('attributes', answers.attributeRows), errors: [400, ...AUTH_ERRORS, 404, 503] } }),
    ),
    ...['/api/plugins/telemetry/:deviceId/:scope', '/api/plugins/telemetry/:entityType/:deviceId/attributes/:scope'].map(
      (path): Route => ({ method: 'POST', path, handler: sharedAttributesRoute(engine), doc: { summary: 'Set shared attributes (scope SHARED_SCOPE), pushed to the device', tag: 'device data', auth: 'jwt', body: answers.keyValues, responses: ok('kept and pushed'), errors: [400, ...AUTH_ERRORS, 404, 413, 415, 503] } }),
    ),
    { method: 'GET', path: '/api/v1/:token/rpc', handler: pollRoute(engine), doc: { summary: 'Device: long-poll for the next call', tag: 'device API (HTTP)', auth: 'device', query: pollQuery, responses: { ...ok('a call', answers.polledCall), 408: { description: 'no call came in time (empty)' } }, errors: [400, 401] } },
    { method: 'POST', path: '/api/v1/:token/rpc', handler: clientCallRoute(engine), doc: { summary: 'Device: a client-side call, answered by the application', tag: 'device API (HTTP)', auth: 'device', body: clientCallBody, responses: ok("the handler's answer", answers.anyJson), errors: [400, 401, 413] } },
    { method: 'POST', path: '/api/v1/:token/rpc/:id', handler: replyRoute(engine), doc: { summary: 'Device: the reply to call id', tag: 'device API (HTTP)', auth: 'device', body: answers.anyJson, responses: ok('taken'), errors: [400, 401, 404, 413] } },
    ...(['telemetry', 'attributes'] as const).map(
      (kind): Route => ({ method: 'POST', path: `/api/v1/:token/${kind}`, handler: deviceDataRoute(engine, kind), doc: { summary: `Device: ${kind === 'telemetry' ? 'telemetry ({k:v}, {ts,values} or an array)' : 'client attributes'}`, tag: 'device API (HTTP)', auth: 'device', body: answers.anyJson, responses: ok('kept'), errors: [400, 401, 413, 503] } }),
    ),
    { method: 'GET', path: '/api/v1/:token/attributes', handler: attributesRequestRoute(engine), doc: { summary: 'Device: read client and shared attributes', tag: 'device API (HTTP)', auth: 'device', query: attributeKeysQuery, responses: ok('the attributes asked for', answers.attributesAnswer), errors: [400, 401, 503] } },
    { method: 'GET', path: '/api/v1/:token/attributes/updates', handler: attributeUpdatesRoute(engine), doc: { summary: 'Device: long-poll for the next shared attribute update', tag: 'device API (HTTP)', auth: 'device', query: pollQuery, responses: { ...ok('the attributes updated', answers.keyValues), 408: { description: 'none came in time (empty)' } }, errors: [400, 401] } },
  ];
  if (engine.metrics !== undefined && engine.config.metrics.port === null) {
    routes.push({ method: 'GET', path: '/metrics', handler: metricsRoute(engine.metrics), doc: { summary: 'Prometheus metrics', tag: 'operations', auth: 'none', responses: ok('Prometheus text format', z.string(), 'text/plain; version=0.0.4; charset=utf-8'), errors: [] } });
  }
  return routes;
}
