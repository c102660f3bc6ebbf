import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import type { Route } from '../route-table.js';
import { errorBody } from './response-schemas.js';

type JsonSchema = Record<string, unknown>;

/**
 * A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect): schemas with an id (`.meta({id})`) go to
 * `components.schemas` and are referred to there. Requests are described as they are taken in (`io: input`: before
 * defaults and coercion), answers as they go out.
 */
function toSchema(schema: z.ZodType, io: 'input' | 'output', components: Record<string, JsonSchema>): JsonSchema {
  const { $schema: _, $defs, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
  for (const [id, definition] of Object.entries($defs ?? {})) components[id] = relink(definition) as JsonSchema;
  return relink(rest) as JsonSchema;
}

function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, key === '$ref' && typeof inner === 'string' ? inner.replace('#/$defs/', '#/components/schemas/') : relink(inner)]));
}

/** find-my-way's `/api/device/:id` and `/swagger-ui/*` as OpenAPI's `/api/device/{id}` and `/swagger-ui/{file}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{file}');

/** The OpenAPI 3.1 document of `routes`, generated from their schemas (never written by hand). */
export function openApiDocument(routes: readonly Route[], version: string): Record<string, unknown> {
  const components: Record<string, JsonSchema> = {};
  const errorRef = toSchema(errorBody, 'output', components);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, path, doc } of routes) {
    const parameters: unknown[] = [...openApiPath(path).matchAll(/\{([A-Za-z]+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    for (const [name, field] of Object.entries(doc.query?.shape ?? {})) {
      const schema = field as z.ZodType;
      parameters.push({ name, in: 'query', required: !schema.safeParse(undefined).success, schema: toSchema(schema, 'input', components), ...(schema.description === undefined ? {} : { description: schema.description }) });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(doc.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema === undefined ? {} : { content: { [response.contentType ?? 'application/json']: { schema: toSchema(response.schema, 'output', components) } } }),
      };
    }
    for (const status of doc.errors) responses[String(status)] = { description: STATUS_CODES[status] ?? 'error', content: { 'application/json': { schema: errorRef } } };
    responses.default = { description: 'any other error (500 with the shared error body)', content: { 'application/json': { schema: errorRef } } };
    (paths[openApiPath(path)] ??= {})[method.toLowerCase()] = {
      summary: doc.summary,
      ...(doc.description === undefined ? {} : { description: doc.description }),
      tags: [doc.tag],
      operationId: `${method.toLowerCase()}${openApiPath(path).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(doc.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: toSchema(doc.body, 'input', components) } } } }),
      responses,
      security: doc.auth === 'jwt' ? [{ bearer: [] }] : [],
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'iot-rpc', version, description: 'Remote procedure calls between applications and IoT devices, on ThingsBoard\'s REST and device APIs.' },
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'apiKey', in: 'header', name: 'X-Authorization', description: 'Bearer <token> from POST /api/auth/login (Authorization: Bearer works too)' } },
    },
  };
}
