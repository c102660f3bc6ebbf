import type { IncomingMessage, ServerResponse } from 'node:http';
import { attributesRoute, latestTelemetryRoute, sharedAttributesRoute } from './routes/telemetry.js';
import FindMyWay from 'find-my-way';
import type { RpcEngine } from '../engine.js';
import { RpcError } from '../errors.js';
import { sendError } from './http-io.js';
import { loginRoute, refreshRoute } from './routes/auth.js';
import { createDeviceRoute, deleteDeviceRoute, getDeviceRoute, listTenantDevicesRoute, listCustomerDevicesRoute } from './routes/devices.js';
import { deletePersistentRoute, getPersistentRoute, listPersistentRoute } from './routes/persistent.js';
import { rpcRoute } from './routes/rpc.js';
import { bulkRoute } from './routes/bulk.js';
import { livezRoute, readyzRoute } from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import { attributeUpdatesRoute, attributesRequestRoute, clientCallRoute, deviceDataRoute, pollRoute, replyRoute } from '../transports/http/index.js';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Every route: path parameters and the query string, already split by the router. */
export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string | undefined>,
  searchParams: Record<string, string>,
) => Promise<void>;

/**
 * The REST API as a plain `(req, res)` handler, so an embedding application can
 * mount it in its own node:http server. Routing by find-my-way (fastify's
 * radix-tree router): parameters, query strings and 404/405 come from one
 * well-tested table rather than hand-written matching.
 */
export function createHttpApi(engine: RpcEngine): HttpHandler {
  const router = FindMyWay({
    ignoreTrailingSlash: true,
    defaultRoute: (req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const allowed = (['GET', 'POST', 'DELETE'] as const).filter((method) => router.find(method, path) !== null);
      if (allowed.length > 0) {
        res.setHeader('allow', allowed.join(', '));
        sendError(res, new RpcError('IOT_ERR_METHOD_NOT_ALLOWED', `${req.method} ${path}`));
      } else {
        sendError(res, new RpcError('IOT_ERR_NOT_FOUND', path));
      }
    },
  });
  // Every route's error is answered here, as SPEC.md's error body (`legacy`: ThingsBoard's status codes).
  const on = (method: 'GET' | 'POST' | 'DELETE', path: string, handler: RouteHandler, legacy = false) => {
    router.on(method, path, (req, res, params, _store, searchParams) => {
      handler(req, res, params, searchParams).catch((error: unknown) => {
        engine.internalErrors.report(error, { method: req.method, route: path });
        sendError(res, error, legacy);
      });
    });
  };
  on('GET', '/livez', livezRoute());
  on('GET', '/readyz', readyzRoute(engine));
  if (engine.metrics !== undefined && engine.config.metrics.port === null) on('GET', '/metrics', metricsRoute(engine.metrics));
  on('POST', '/api/auth/login', loginRoute(engine));
  on('POST', '/api/auth/token', refreshRoute(engine));
  on('POST', '/api/rpc/bulk', bulkRoute(engine));
  on('POST', '/api/rpc/:kind/:deviceId', rpcRoute(engine));
  on('POST', '/api/plugins/rpc/:kind/:deviceId', rpcRoute(engine), true);
  on('GET', '/api/rpc/persistent/:rpcId', getPersistentRoute(engine));
  on('GET', '/api/rpc/persistent/device/:deviceId', listPersistentRoute(engine));
  on('DELETE', '/api/rpc/persistent/:rpcId', deletePersistentRoute(engine));
  on('POST', '/api/device', createDeviceRoute(engine));
  on('GET', '/api/device/:id', getDeviceRoute(engine));
  on('DELETE', '/api/device/:id', deleteDeviceRoute(engine));
  on('GET', '/api/tenant/devices', listTenantDevicesRoute(engine));
  on('GET', '/api/customer/:customerId/devices', listCustomerDevicesRoute(engine));
  on('GET', '/api/plugins/telemetry/:entityType/:deviceId/values/timeseries', latestTelemetryRoute(engine));
  on('GET', '/api/plugins/telemetry/:entityType/:deviceId/values/attributes', attributesRoute(engine));
  on('GET', '/api/plugins/telemetry/:entityType/:deviceId/values/attributes/:scope', attributesRoute(engine));
  on('POST', '/api/plugins/telemetry/:deviceId/:scope', sharedAttributesRoute(engine));
  on('POST', '/api/plugins/telemetry/:entityType/:deviceId/attributes/:scope', sharedAttributesRoute(engine));
  on('GET', '/api/v1/:token/rpc', pollRoute(engine));
  on('POST', '/api/v1/:token/rpc', clientCallRoute(engine));
  on('POST', '/api/v1/:token/rpc/:id', replyRoute(engine));
  on('POST', '/api/v1/:token/telemetry', deviceDataRoute(engine, 'telemetry'));
  on('POST', '/api/v1/:token/attributes', deviceDataRoute(engine, 'attributes'));
  on('GET', '/api/v1/:token/attributes', attributesRequestRoute(engine));
  on('GET', '/api/v1/:token/attributes/updates', attributeUpdatesRoute(engine));
  return (req, res) => router.lookup(req, res);
}
