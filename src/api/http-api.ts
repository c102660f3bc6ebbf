import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import { z } from 'zod';
import type { RpcEngine } from '../engine.js';
import { RpcError } from '../errors.js';
import { sendError } from './http-io.js';
import { openApiDocument } from './openapi/openapi-document.js';
import { routeTable } from './route-table.js';
import { openApiRoute, swaggerUiRoute } from './routes/api-document.js';
import { consoleRoute } from './routes/console.js';

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the router of each handler createHttpApi made knows, as method and path (the API document's test reads it). */
export const routerRoutesOf = new WeakMap<HttpHandler, ReadonlyArray<{ method: string; path: string }>>();

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * CORS for the listed origins (`cors.origins`), so that widgets in an application's own pages can call the API:
 * the answer names the origin; a preflight (OPTIONS) is answered here and ends the request (true).
 */
function allowedOrigins(origins: readonly string[]): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
  if (origins.length === 0) return undefined;
  const any = origins.includes('*');
  const listed = new Set(origins.filter((origin) => origin !== '*').map((origin) => new URL(origin).origin));
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin === undefined || !(any || listed.has(origin))) return false;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers': 'content-type, x-authorization, authorization',
      'access-control-max-age': '600',
    });
    res.end();
    return true;
  };
}

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
  const cors = allowedOrigins(engine.config.cors.origins);
  const handler: HttpHandler = (req, res) => {
    if (cors !== undefined && cors(req, res)) return;
    router.lookup(req, res);
  };
  const on = (method: 'GET' | 'POST' | 'DELETE', path: string, handler: RouteHandler, legacy = false) => {
    router.on(method, path, (req, res, params, _store, searchParams) => {
      handler(req, res, params, searchParams).catch((error: unknown) => {
        engine.internalErrors.report(error, { method: req.method, route: path });
        sendError(res, error, legacy);
      });
    });
  };
  const routes = routeTable(engine);
  routes.push(
    { method: 'GET', path: '/api/openapi.json', handler: openApiRoute(() => openApiDocument(routes, packageVersion())), doc: { summary: 'This document (OpenAPI 3.1)', tag: 'documentation', auth: 'none', responses: { 200: { description: 'the document', schema: z.looseObject({ openapi: z.literal('3.1.0') }) } }, errors: [] } },
    { method: 'GET', path: '/', handler: consoleRoute(), doc: { summary: 'The web console', tag: 'console', auth: 'none', responses: { 200: { description: 'the page', schema: z.string(), contentType: 'text/html' } }, errors: [503] } },
    { method: 'GET', path: '/console/*', handler: consoleRoute(), doc: { summary: "The console's and the embeddable widgets' modules (app.js, widgets.js)", tag: 'console', auth: 'none', responses: { 200: { description: 'the file', schema: z.string(), contentType: '*/*' } }, errors: [404, 503] } },
    { method: 'GET', path: '/swagger-ui', handler: swaggerUiRoute(), doc: { summary: 'Swagger UI on this document', tag: 'documentation', auth: 'none', responses: { 200: { description: 'the page', schema: z.string(), contentType: 'text/html' } }, errors: [] } },
    { method: 'GET', path: '/swagger-ui/*', handler: swaggerUiRoute(), doc: { summary: "Swagger UI's files (from the swagger-ui-dist package)", tag: 'documentation', auth: 'none', responses: { 200: { description: 'the file', schema: z.string(), contentType: '*/*' } }, errors: [404] } },
  );
  for (const { method, path, handler, legacy } of routes) on(method, path, handler, legacy);
  routerRoutesOf.set(handler, (router as unknown as { routes: Array<{ method: string; path: string }> }).routes.map(({ method, path }) => ({ method, path })));
  return handler;
}
