/**
 * The API document: every route the router knows is in it, and real answers (fetch against a server with a real
 * MQTT device) validate against the schema it gives for their status, with ajv (JSON Schema 2020-12, OpenAPI 3.1's).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerRoutesOf } from '../../src/api/http-api.js';
import { openApiPath } from '../../src/api/openapi/openapi-document.js';
import { USERS, answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
let t: TestServer;
let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: unknown };
let device: MqttClient;
let admin: string;
const ajv = new Ajv2020({ strict: false, allErrors: true });
beforeAll(async () => {
  t = await startTestServer();
  device = await connectDevice(t.mqttUrl, 'TOKEN_A');
  await answerRequests(device, (method, params) => ({ method, params }));
  admin = await t.login(USERS.tenant);
  doc = (await (await fetch(`${t.httpUrl}/api/openapi.json`)).json()) as typeof doc;
  ajv.addSchema(doc as object, 'openapi.json');
});
afterAll(async () => {
  device.end(true);
  await t.close();
});

/** Checks a real answer against the document: its status is documented for the route, and its body fits the schema. */
const checked = new Set<string>();
async function conforms(method: string, template: string, res: Response): Promise<Response> {
  const operation = doc.paths[template]?.[method.toLowerCase()];
  expect(operation, `${method} ${template} is in the document`).toBeDefined();
  const documented = operation!.responses[String(res.status)] ?? operation!.responses.default!;
  expect(operation!.responses[String(res.status)], `${method} ${template} documents status ${res.status}`).toBeDefined();
  const text = await res.clone().text();
  const content = documented.content;
  if (content === undefined) {
    expect(text, `${method} ${template} ${res.status} has no body`).toBe('');
  } else {
    const [type, { schema }] = Object.entries(content)[0]!;
    // A one-way call's 200 has no body (the document's schema for it is "anything").
    if (text !== '' && type !== '*/*') expect(res.headers.get('content-type'), `${method} ${template}`).toContain(type.split(';')[0]);
    const rewritten = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/')) as object;
    const value = type.includes('json') && text !== '' ? JSON.parse(text) : text === '' && type.includes('json') ? undefined : text;
    const validate = ajv.compile(rewritten);
    expect(validate(value), `${method} ${template} ${res.status}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 300)}`).toBe(true);
  }
  checked.add(`${method} ${template}`);
  return res;
}

const api = (method: string, path: string, body?: unknown, token: string | undefined = admin) =>
  fetch(`${t.httpUrl}${path}`, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { 'x-authorization': `Bearer ${token}` }) }, body: body === undefined ? undefined : JSON.stringify(body) });

describe('GET /api/openapi.json', () => {
  it('is OpenAPI 3.1 and names every route the router knows, with its methods', () => {
    expect(doc.openapi).toBe('3.1.0');
    const routes = routerRoutesOf.get(t.server.httpHandler)!;
    expect(routes.length).toBeGreaterThan(25);
    for (const { method, path } of routes) {
      if (method === 'HEAD') continue; // find-my-way's automatic HEAD for each GET
      expect(doc.paths[openApiPath(path)]?.[method.toLowerCase()], `${method} ${path}`).toBeDefined();
    }
    // Each documented schema is valid JSON Schema.
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const { content } of Object.values(operation.responses)) for (const { schema } of Object.values(content ?? {})) expect(() => ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/'))), `${method} ${path}`).not.toThrow();
      }
    }
  });

  it('real answers, successes and errors, validate against it', async () => {
    await conforms('GET', '/livez', await fetch(`${t.httpUrl}/livez`));
    await conforms('GET', '/readyz', await fetch(`${t.httpUrl}/readyz`));
    await conforms('GET', '/metrics', await fetch(`${t.httpUrl}/metrics`));
    await conforms('POST', '/api/auth/login', await api('POST', '/api/auth/login', { username: USERS.tenant.email, password: USERS.tenant.password }, undefined));
    await conforms('POST', '/api/auth/login', await api('POST', '/api/auth/login', { username: USERS.tenant.email, password: 'wrong' }, undefined));
    const tokens = (await (await api('POST', '/api/auth/login', { username: USERS.tenant.email, password: USERS.tenant.password }, undefined)).json()) as { refreshToken: string };
    await conforms('POST', '/api/auth/token', await api('POST', '/api/auth/token', { refreshToken: tokens.refreshToken }, undefined));
    await conforms('POST', '/api/rpc/{kind}/{deviceId}', await api('POST', '/api/rpc/twoway/dev-a', { method: 'echo', params: { a: 1 } }));
    await conforms('POST', '/api/rpc/{kind}/{deviceId}', await api('POST', '/api/rpc/twoway/no-such', { method: 'echo' }));
    await conforms('POST', '/api/rpc/{kind}/{deviceId}', await api('POST', '/api/rpc/twoway/dev-a', { params: 1 }));
    await conforms('POST', '/api/plugins/rpc/{kind}/{deviceId}', await api('POST', '/api/plugins/rpc/oneway/dev-a', { method: 'fire' }));
    await conforms('POST', '/api/rpc/bulk', await api('POST', '/api/rpc/bulk', { deviceIds: ['dev-a', 'dev-b'], method: 'echo' }));
    const stored = await conforms('POST', '/api/rpc/{kind}/{deviceId}', await api('POST', '/api/rpc/twoway/dev-plain', { method: 'later', persistent: true, timeout: 60_000 }));
    const { rpcId } = (await stored.json()) as { rpcId: string };
    await conforms('GET', '/api/rpc/persistent/{rpcId}', await api('GET', `/api/rpc/persistent/${rpcId}`));
    await conforms('GET', '/api/rpc/persistent/device/{deviceId}', await api('GET', '/api/rpc/persistent/device/dev-plain?pageSize=10&page=0'));
    await conforms('DELETE', '/api/rpc/persistent/{rpcId}', await api('DELETE', `/api/rpc/persistent/${rpcId}`));
    await conforms('GET', '/api/rpc/persistent/{rpcId}', await api('GET', `/api/rpc/persistent/${rpcId}`));
    const made = await conforms('POST', '/api/device', await api('POST', '/api/device', { name: 'Documented', label: 'L', type: 'sensor' }));
    const madeId = ((await made.json()) as { id: { id: string } }).id.id;
    await conforms('POST', '/api/device', await api('POST', '/api/device', { name: 'Documented' }));
    await conforms('GET', '/api/device/{id}', await api('GET', `/api/device/${madeId}`));
    await conforms('GET', '/api/tenant/devices', await api('GET', '/api/tenant/devices?pageSize=5&page=0'));
    await conforms('GET', '/api/tenant/devices', await api('GET', '/api/tenant/devices?deviceName=Documented'));
    await conforms('GET', '/api/customer/{customerId}/devices', await api('GET', '/api/customer/customer-a/devices?pageSize=5&page=0'));
    await conforms('DELETE', '/api/device/{id}', await api('DELETE', `/api/device/${madeId}`));
    await conforms('GET', '/api/device/{id}', await api('GET', `/api/device/${madeId}`, undefined, await t.login(USERS.sysadmin)));
    await conforms('POST', '/api/v1/{token}/telemetry', await api('POST', '/api/v1/TOKEN_A/telemetry', { t: 1 }, undefined));
    await conforms('POST', '/api/v1/{token}/attributes', await api('POST', '/api/v1/TOKEN_A/attributes', { fw: '1' }, undefined));
    await conforms('POST', '/api/v1/{token}/telemetry', await api('POST', '/api/v1/NOPE/telemetry', { t: 1 }, undefined));
    await conforms('POST', '/api/plugins/telemetry/{deviceId}/{scope}', await api('POST', '/api/plugins/telemetry/dev-a/SHARED_SCOPE', { mode: 'eco' }));
    await conforms('POST', '/api/plugins/telemetry/{entityType}/{deviceId}/attributes/{scope}', await api('POST', '/api/plugins/telemetry/DEVICE/dev-a/attributes/SHARED_SCOPE', { level: 2 }));
    await conforms('GET', '/api/plugins/telemetry/{entityType}/{deviceId}/values/timeseries', await api('GET', '/api/plugins/telemetry/DEVICE/dev-a/values/timeseries?keys=t'));
    await conforms('GET', '/api/plugins/telemetry/{entityType}/{deviceId}/values/attributes', await api('GET', '/api/plugins/telemetry/DEVICE/dev-a/values/attributes'));
    await conforms('GET', '/api/plugins/telemetry/{entityType}/{deviceId}/values/attributes/{scope}', await api('GET', '/api/plugins/telemetry/DEVICE/dev-a/values/attributes/SHARED_SCOPE'));
    await conforms('GET', '/api/v1/{token}/attributes', await api('GET', '/api/v1/TOKEN_A/attributes?clientKeys=fw', undefined, undefined));
    await conforms('GET', '/api/v1/{token}/attributes/updates', await api('GET', '/api/v1/TOKEN_A/attributes/updates?timeout=50', undefined, undefined));
    t.server.handle('sum', (params) => (params as { a: number; b: number }).a + (params as { a: number; b: number }).b);
    await conforms('POST', '/api/v1/{token}/rpc', await api('POST', '/api/v1/TOKEN_PLAIN/rpc', { method: 'sum', params: { a: 1, b: 2 } }, undefined));
    await conforms('GET', '/api/v1/{token}/rpc', await api('GET', '/api/v1/TOKEN_PLAIN/rpc?timeout=50', undefined, undefined));
    const call = t.server.call('dev-plain', { method: 'viaPoll', timeout: 5000 });
    const polled = await conforms('GET', '/api/v1/{token}/rpc', await api('GET', '/api/v1/TOKEN_PLAIN/rpc?timeout=3000', undefined, undefined));
    const { id } = (await polled.json()) as { id: number };
    await conforms('POST', '/api/v1/{token}/rpc/{id}', await api('POST', `/api/v1/TOKEN_PLAIN/rpc/${id}`, { done: true }, undefined));
    await expect(call).resolves.toEqual({ done: true });
    await conforms('POST', '/api/v1/{token}/rpc/{id}', await api('POST', `/api/v1/TOKEN_PLAIN/rpc/${id}`, { again: true }, undefined));
    await conforms('GET', '/', await fetch(`${t.httpUrl}/`));
    await conforms('GET', '/console/{file}', await fetch(`${t.httpUrl}/console/app.js`));
    await conforms('GET', '/console/{file}', await fetch(`${t.httpUrl}/console/nothing.js`));
    await conforms('GET', '/swagger-ui', await fetch(`${t.httpUrl}/swagger-ui/`));
    await conforms('GET', '/swagger-ui/{file}', await fetch(`${t.httpUrl}/swagger-ui/swagger-ui.css`));
    await conforms('GET', '/swagger-ui/{file}', await fetch(`${t.httpUrl}/swagger-ui/nothing.js`));
    await conforms('GET', '/api/openapi.json', await fetch(`${t.httpUrl}/api/openapi.json`));
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.filter((operation) => !checked.has(operation))).toEqual([]);
  });

  it('Swagger UI is served from the installed package, with every file its page loads', async () => {
    const page = await (await fetch(`${t.httpUrl}/swagger-ui/`)).text();
    const files = [...page.matchAll(/(?:href|src)="\.\/([^"]+)"/g)].map(([, file]) => file!);
    expect(files).toEqual(expect.arrayContaining(['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js']));
    for (const file of files) {
      const res = await fetch(`${t.httpUrl}/swagger-ui/${file}`);
      expect(res.status, file).toBe(200);
      expect((await res.arrayBuffer()).byteLength, file).toBeGreaterThan(100);
    }
    expect(page).not.toMatch(/https?:\/\//);
    expect((await fetch(`${t.httpUrl}/swagger-ui/../package.json`)).status).toBe(404);
  });
});
