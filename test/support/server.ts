import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createRpcServer, type RpcServer, type ServerConfig } from '../../src/index.js';

export const SECRET = 'test-secret-test-secret-test-secret-0123456789';

export const USERS = {
  tenant: { email: 'admin@tenant-a.test', password: 'tenant-pass' },
  customer: { email: 'user@customer-a.test', password: 'customer-pass' },
  otherCustomer: { email: 'user@customer-b.test', password: 'customer-b-pass' },
  otherTenant: { email: 'admin@tenant-b.test', password: 'tenant-b-pass' },
  sysadmin: { email: 'root@system.test', password: 'root-pass' },
} as const;

/** Tenant A with customers A and B; tenant B. Devices: `dev-a` (customer A), `dev-plain` (no customer), `dev-b` (tenant B), `gw-1` (a gateway in tenant A). */
export function testConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    jwt: { secret: SECRET, issuer: 'iot-rpc-test' },
    tenants: [
      { id: 'tenant-a', name: 'Tenant A' },
      { id: 'tenant-b', name: 'Tenant B' },
    ],
    customers: [
      { id: 'customer-a', tenantId: 'tenant-a', name: 'Customer A' },
      { id: 'customer-b', tenantId: 'tenant-a', name: 'Customer B' },
    ],
    users: [
      { ...USERS.tenant, role: 'TENANT_ADMIN', tenantId: 'tenant-a' },
      { ...USERS.customer, role: 'CUSTOMER_USER', tenantId: 'tenant-a', customerId: 'customer-a' },
      { ...USERS.otherCustomer, role: 'CUSTOMER_USER', tenantId: 'tenant-a', customerId: 'customer-b' },
      { ...USERS.otherTenant, role: 'TENANT_ADMIN', tenantId: 'tenant-b' },
      { ...USERS.sysadmin, role: 'SYS_ADMIN' },
    ],
    devices: [
      { id: 'dev-a', name: 'Device A', tenantId: 'tenant-a', customerId: 'customer-a', accessToken: 'TOKEN_A' },
      { id: 'dev-plain', name: 'Device Plain', tenantId: 'tenant-a', accessToken: 'TOKEN_PLAIN' },
      { id: 'dev-b', name: 'Device B', tenantId: 'tenant-b', accessToken: 'TOKEN_B' },
      { id: 'gw-1', name: 'Gateway 1', tenantId: 'tenant-a', accessToken: 'TOKEN_GW', gateway: true },
    ],
    ...overrides,
  };
}

export interface TestServer {
  server: RpcServer;
  httpUrl: string;
  mqttUrl: string;
  wsUrl: string;
  mqttPort: number;
  coapPort: number;
  login(user: { email: string; password: string }): Promise<string>;
  post(path: string, body: unknown, token?: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const server = createRpcServer({ config: testConfig(overrides), host: '127.0.0.1', httpPort: 0, mqttPort: 0, coapPort: 0, logger: false });
  const { httpPort, mqttPort, coapPort } = await server.listen();
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const post = (path: string, body: unknown, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${httpUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { 'x-authorization': `Bearer ${token}` }),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    server,
    httpUrl,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    wsUrl: `ws://127.0.0.1:${httpPort}/mqtt`,
    mqttPort: mqttPort!,
    coapPort: coapPort!,
    post,
    async login(user) {
      const res = await post('/api/auth/login', { username: user.email, password: user.password });
      if (res.status !== 200) throw new Error(`login of ${user.email} answered ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    },
    close: () => server.close(),
  };
}

/** An MQTT device with the `mqtt` package; resolves once CONNACK arrived. */
export async function connectDevice(url: string, token: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { username: token, reconnectPeriod: 0, connectTimeout: 5000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

/**
 * Subscribes to RPC requests and answers each with `answer(method, params)`: a string is sent as it is
 * (to test non-JSON replies), anything else as JSON, undefined not at all. Returns the requests seen.
 */
export async function answerRequests(
  client: MqttClient,
  answer: (method: string, params: unknown) => unknown,
  options: { qos?: 0 | 1; style?: 'v1' | 'v2'; delayMs?: number } = {},
): Promise<Array<{ topic: string; method: string; params: unknown }>> {
  const seen: Array<{ topic: string; method: string; params: unknown }> = [];
  const style = options.style ?? 'v1';
  const requestPrefix = style === 'v1' ? 'v1/devices/me/rpc/request/' : 'v2/r/req/';
  const responsePrefix = style === 'v1' ? 'v1/devices/me/rpc/response/' : 'v2/r/res/';
  client.on('message', (topic, payload) => {
    if (!topic.startsWith(requestPrefix)) return;
    const { method, params } = JSON.parse(payload.toString()) as { method: string; params: unknown };
    seen.push({ topic, method, params });
    const reply = answer(method, params);
    if (reply === undefined) return;
    const send = () => client.publish(`${responsePrefix}${topic.slice(requestPrefix.length)}`, typeof reply === 'string' ? reply : JSON.stringify(reply));
    if (options.delayMs === undefined) send();
    else setTimeout(send, options.delayMs);
  });
  await client.subscribeAsync(`${requestPrefix}+`, { qos: options.qos ?? 1 });
  return seen;
}

export async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
