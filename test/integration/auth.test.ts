import { createServer, type Server } from 'node:http';
import { generateKeyPair, exportJWK, exportSPKI, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, USERS, answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

const callWith = (token: string) => t.post('/api/rpc/twoway/dev-a', { method: 'x', expirationTime: Date.now() + 200 }, token);

function claims(overrides: Record<string, unknown> = {}) {
  return { userId: 'u1', scopes: ['TENANT_ADMIN'], tenantId: 'tenant-a', ...overrides };
}

async function hsToken(secret: string, alg = 'HS512', payload = claims(), expiresIn: string | number = '1h') {
  return new SignJWT(payload).setProtectedHeader({ alg }).setSubject('admin@tenant-a.test').setIssuer('iot-rpc-test').setIssuedAt().setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));
}

describe('login and refresh', () => {
  it('login answers a token and a refresh token whose claims follow SPEC.md', async () => {
    const res = await t.post('/api/auth/login', { username: USERS.customer.email, password: USERS.customer.password });
    expect(res.status).toBe(200);
    const { token, refreshToken } = (await res.json()) as { token: string; refreshToken: string };
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload).toMatchObject({ sub: USERS.customer.email, scopes: ['CUSTOMER_USER'], tenantId: 'tenant-a', customerId: 'customer-a', iss: 'iot-rpc-test' });
    expect(typeof payload.userId).toBe('string');
    expect(payload.exp).toBeGreaterThan(payload.iat as number);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'HS512' });
    expect(refreshToken).not.toBe(token);
  });

  it('wrong password answers 401 IOT_ERR_BAD_CREDENTIALS', async () => {
    const res = await t.post('/api/auth/login', { username: USERS.customer.email, password: 'nope' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_BAD_CREDENTIALS');
  });

  it('unknown user answers 401', async () => {
    const res = await t.post('/api/auth/login', { username: 'ghost@x.test', password: 'nope' });
    expect(res.status).toBe(401);
  });

  it('login without a password answers 400', async () => {
    const res = await t.post('/api/auth/login', { username: USERS.customer.email });
    expect(res.status).toBe(400);
  });

  it('a refresh token buys a new working pair', async () => {
    const login = (await (await t.post('/api/auth/login', { username: USERS.tenant.email, password: USERS.tenant.password })).json()) as { refreshToken: string };
    const res = await t.post('/api/auth/token', { refreshToken: login.refreshToken });
    expect(res.status).toBe(200);
    const pair = (await res.json()) as { token: string; refreshToken: string };
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
    await answerRequests(device, () => ({ ok: true }));
    const call = await t.post('/api/rpc/twoway/dev-a', { method: 'x' }, pair.token);
    device.end(true);
    expect(call.status).toBe(200);
  });

  it('an access token used as a refresh token answers 401', async () => {
    const token = await t.login(USERS.tenant);
    const res = await t.post('/api/auth/token', { refreshToken: token });
    expect(res.status).toBe(401);
  });
});

describe('JWT rejections (401)', () => {
  it('a refresh token used as an access token', async () => {
    const login = (await (await t.post('/api/auth/login', { username: USERS.tenant.email, password: USERS.tenant.password })).json()) as { refreshToken: string };
    const res = await callWith(login.refreshToken);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toContain('refresh token');
  });

  it('alg none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ ...claims(), sub: 'a', iss: 'iot-rpc-test', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
    expect((await callWith(`${header}.${body}.`)).status).toBe(401);
  });

  it('signed with the wrong secret', async () => {
    expect((await callWith(await hsToken('another-secret-another-secret-another-secret'))).status).toBe(401);
  });

  it('signed with the right secret but another HMAC algorithm than configured', async () => {
    expect((await callWith(await hsToken(SECRET, 'HS256'))).status).toBe(401);
  });

  it('expired, with IOT_ERR_TOKEN_EXPIRED', async () => {
    const res = await callWith(await hsToken(SECRET, 'HS512', claims(), Math.floor(Date.now() / 1000) - 10));
    expect(res.status).toBe(401);
    const body = (await res.json()) as { code: string; errorCode: number };
    expect(body.code).toBe('IOT_ERR_TOKEN_EXPIRED');
    expect(body.errorCode).toBe(11);
  });

  it('from another issuer', async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS512' }).setIssuer('someone-else').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    expect((await callWith(token)).status).toBe(401);
  });

  it('with no role in its scopes', async () => {
    expect((await callWith(await hsToken(SECRET, 'HS512', claims({ scopes: ['ADMIN'] })))).status).toBe(401);
  });

  it('a valid self-made token with the right secret is accepted (the checks above are not blanket refusals)', async () => {
    const res = await callWith(await hsToken(SECRET));
    expect(res.status).toBe(504);
  });
});

describe('external identity providers', () => {
  let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };
  let ec: { publicKey: CryptoKey; privateKey: CryptoKey };
  let jwksServer: Server;
  let jwksUrl: string;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256');
    ec = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

  const sign = (key: CryptoKey, alg: string, kid?: string) =>
    new SignJWT(claims()).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setSubject('idp-user').setIssuer('iot-rpc-test').setExpirationTime('1h').sign(key);

  it('RS256 tokens verify against a configured public key; another key and HS tokens do not', async () => {
    const idp = await startTestServer({ jwt: { issuer: 'iot-rpc-test', publicKey: await exportSPKI(rsa.publicKey), publicKeyAlgorithm: 'RS256' } });
    try {
      const call = (token: string) => idp.post('/api/rpc/twoway/dev-a', { method: 'x', expirationTime: Date.now() + 200 }, token);
      expect((await call(await sign(rsa.privateKey, 'RS256'))).status).toBe(504);
      const stranger = await generateKeyPair('RS256');
      expect((await call(await sign(stranger.privateKey, 'RS256'))).status).toBe(401);
      // Algorithm confusion: an HMAC token keyed with the public key's PEM must not verify.
      expect((await call(await hsToken(await exportSPKI(rsa.publicKey), 'HS256'))).status).toBe(401);
      const login = await idp.post('/api/auth/login', { username: USERS.tenant.email, password: USERS.tenant.password });
      expect(login.status).toBe(503);
    } finally {
      await idp.close();
    }
  });

  it('ES256 tokens verify against a JWKS URL', async () => {
    const idp = await startTestServer({ jwt: { issuer: 'iot-rpc-test', jwksUrl } });
    try {
      const call = (token: string) => idp.post('/api/rpc/twoway/dev-a', { method: 'x', expirationTime: Date.now() + 200 }, token);
      expect((await call(await sign(ec.privateKey, 'ES256', 'ec-1'))).status).toBe(504);
      const stranger = await generateKeyPair('ES256');
      expect((await call(await sign(stranger.privateKey, 'ES256', 'ec-1'))).status).toBe(401);
    } finally {
      await idp.close();
    }
  });
});
