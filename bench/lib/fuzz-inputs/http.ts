/**
 * HTTP/1.1 sessions, raw requests on one keep-alive connection: the REST
 * API (`/api/auth/login`, `/api/auth/token`, `/api/rpc/{twoway|oneway}/{id}`
 * plain and persistent, the legacy `/api/plugins/rpc/…`, `/api/rpc/persistent/…`
 * get, list and delete, device reads) with the tenant admin's JWT, and the
 * device API (`GET /api/v1/{token}/rpc` long-polls, replies, client-side
 * calls). Bodies go through the JSON mutations; then the request itself is
 * mutated: Content-Length (past the body, huge, negative, twice, with
 * Transfer-Encoding), chunked bodies with bad sizes, oversized headers and
 * too many of them, bad request lines, bad header bytes, and byte-level
 * mutations; requests are pipelined, batched and split. The probe is a
 * `GET /fuzz-probe` with `Connection: close`, answered 404.
 */
import type { Rng } from '../prng.js';
import { HttpResponseReader, httpAnswerKey } from './http-response.js';
import { fuzzJson, type JsonText } from './json.js';
import { mutateBytes, planWrites } from './mutate.js';
import type { Answer, AnswerReader, FuzzInput, FuzzSession, FuzzTargets, ProtocolFuzzer } from './types.js';

interface Request {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body: string;
  label: string;
}

export const PROBE_PATH = '/fuzz-probe';
const PROBE = Buffer.from(`GET ${PROBE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
const STATUSES = ['QUEUED', 'SENT', 'DELIVERED', 'SUCCESSFUL', 'TIMEOUT', 'EXPIRED', 'FAILED', 'DELETED', 'nope'];

/** A persistent call id: a UUID of this session's generator (reproducible), or something that is not one. */
function rpcId(rng: Rng): string {
  const hex = rng.bytes(16).toString('hex');
  return rng.chance(0.8) ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}` : rng.pick(['x', '', '%00', '..', 'a'.repeat(500)]);
}

function authorization(rng: Rng, jwt: string): Array<[string, string]> {
  const value = rng.weighted([
    [`Bearer ${jwt}`, 8],
    [`Bearer ${jwt.slice(0, -2)}${jwt.endsWith('A') ? 'BB' : 'AA'}`, 1],
    ['Bearer ', 0.3],
    [`Bearer ${'x'.repeat(10_000)}`, 0.2],
    [`Basic ${jwt}`, 0.3],
    ['Bearer a.b.c', 0.5],
  ] as const);
  const header = rng.chance(0.7) ? 'X-Authorization' : 'Authorization';
  return rng.chance(0.05) ? [] : [[header, value]];
}

function request(rng: Rng, t: FuzzTargets): Request {
  const json = (valid: Record<string, unknown>): JsonText => fuzzJson(rng, valid);
  const device = () => rng.weighted([
    [t.echoDeviceId, 6],
    [rng.pick(t.deviceIds), 2],
    ['no-such-device', 1],
    ['', 0.2],
  ] as const);
  const post = (path: string, body: JsonText, auth: boolean, label: string): Request => ({
    method: 'POST',
    path,
    headers: [...(auth ? authorization(rng, t.jwt) : []), ['Content-Type', rng.weighted([['application/json', 9], ['text/plain', 0.5], ['application/json; charset=utf-8', 0.5], ['', 0.3]] as const)]],
    body: body.text,
    label: `${label}(${body.label})`,
  });
  const get = (path: string, auth: boolean, label: string): Request => ({ method: 'GET', path, headers: auth ? authorization(rng, t.jwt) : [], body: '', label });
  const kind = rng.weighted([
    ['login', 3],
    ['refresh', 1],
    ['twoway', 4],
    ['oneway', 2],
    ['legacy', 1],
    ['persistent', 2],
    ['persistent-get', 1.5],
    ['persistent-list', 1],
    ['persistent-delete', 0.5],
    ['poll', 3],
    ['device-reply', 2],
    ['client-call', 2],
    ['device-read', 1],
    ['upgrade', 0.3],
    ['unknown', 0.5],
  ] as const);
  const params = { value: 42, unit: 'C', label: 'benchmark' };
  const timeout = () => rng.pick([5000, 5000, 1, 10_000, 2 ** 31]);
  switch (kind) {
    case 'login':
      return post('/api/auth/login', json({ username: t.username, password: rng.chance(0.7) ? t.password : 'wrong' }), false, kind);
    case 'refresh':
      return post('/api/auth/token', json({ refreshToken: rng.chance(0.7) ? t.refreshToken : t.jwt }), false, kind);
    case 'twoway':
      return post(`/api/rpc/twoway/${device()}`, json({ method: 'echo', params, timeout: timeout() }), true, kind);
    case 'oneway':
      return post(`/api/rpc/oneway/${device()}`, json({ method: 'echo', params }), true, kind);
    case 'legacy':
      return post(`/api/plugins/rpc/${rng.pick(['twoway', 'oneway', 'sideways'])}/${device()}`, json({ method: 'echo', params, timeout: timeout() }), true, kind);
    case 'persistent':
      return post(
        `/api/rpc/${rng.pick(['twoway', 'oneway'])}/${device()}`,
        json({
          method: 'echo',
          params,
          persistent: true,
          timeout: 5000,
          expirationTime: Date.now() + rng.pick([10_000, 60_000, -1000, 2 ** 40]),
          retries: rng.pick([0, 2, 1000]),
          additionalInfo: { note: 'fuzz' },
          ...(rng.chance(0.3) ? { requestUUID: rpcId(rng) } : {}),
        }),
        true,
        kind,
      );
    case 'persistent-get':
      return get(`/api/rpc/persistent/${rpcId(rng)}`, true, kind);
    case 'persistent-list': {
      const query = [
        `pageSize=${rng.pick(['10', '0', '-1', '100000', 'x'])}`,
        `page=${rng.pick(['0', '1', '-1', '1e9'])}`,
        ...(rng.chance(0.5) ? [`rpcStatus=${rng.pick(STATUSES)}`] : []),
        ...(rng.chance(0.3) ? [`sortProperty=${rng.pick(['createdTime', 'expirationTime', 'id'])}`, `sortOrder=${rng.pick(['ASC', 'DESC', 'up'])}`] : []),
      ];
      return get(`/api/rpc/persistent/device/${device()}?${query.join('&')}`, true, kind);
    }
    case 'persistent-delete':
      return { ...get(`/api/rpc/persistent/${rpcId(rng)}`, true, kind), method: 'DELETE' };
    case 'poll':
      return get(`/api/v1/${rng.pick(t.deviceTokens)}/rpc?timeout=${rng.weighted([[String(rng.range(1, 300)), 8], ['0', 0.5], ['abc', 0.5], ['300001', 0.3], ['1.5', 0.3], [String(rng.range(1000, 3000)), 0.3]] as const)}`, false, kind);
    case 'device-reply':
      return post(`/api/v1/${rng.pick(t.deviceTokens)}/rpc/${rng.chance(0.7) ? String(rng.range(1, 200)) : rng.pick(['0', '-1', 'abc', '99999999999'])}`, json(params), false, kind);
    case 'client-call':
      return post(`/api/v1/${rng.chance(0.9) ? rng.pick(t.deviceTokens) : 'unknown-token'}/rpc`, json({ method: rng.pick(['getCurrentTime', 'getCurrentTime', 'unknown']), params: {} }), false, kind);
    case 'device-read':
      return get(rng.chance(0.5) ? `/api/device/${device()}` : `/api/tenant/devices?pageSize=${rng.pick(['10', '0', '1000000'])}&page=0`, true, kind);
    case 'upgrade':
      return {
        method: 'GET',
        path: rng.pick(['/mqtt', '/api/ws', '/elsewhere']),
        headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', rng.pick(['13', '8'])], ['Sec-WebSocket-Key', rng.chance(0.8) ? rng.bytes(16).toString('base64') : 'short'], ['Sec-WebSocket-Protocol', rng.pick(['mqtt', 'mqttv3.1', 'chat'])]],
        body: '',
        label: kind,
      };
    case 'unknown':
      return { method: rng.pick(['PUT', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'CONNECT', 'BREW']), path: rng.pick(['/api/rpc/twoway/d0', '/', '*', '/api/auth/login']), headers: [], body: '', label: kind };
  }
}

/** The request as bytes, with its framing and headers mutated now and then. */
function render(rng: Rng, req: Request): { bytes: Buffer; label: string } {
  const body = Buffer.from(req.body);
  let requestLine = `${req.method} ${req.path} HTTP/1.1`;
  const headers: Array<[string, string]> = [['Host', '127.0.0.1'], ...req.headers.filter(([, v]) => v !== '')];
  let payload = body;
  let framing = '';
  const roll = rng.next();
  if (body.length > 0 || req.method === 'POST') headers.push(['Content-Length', String(body.length)]);
  if (roll < 0.06) {
    const declared = rng.pick([body.length + rng.range(1, 100), 1e12, -1, 99_999_999_999_999_999_999, 70_000]);
    setHeader(headers, 'Content-Length', rng.chance(0.2) ? '1e3' : String(declared));
    framing = `content-length(${declared})`;
  } else if (roll < 0.09) {
    headers.push(['Content-Length', String(body.length + 5)]);
    framing = 'content-length-twice';
  } else if (roll < 0.15) {
    setHeader(headers, 'Content-Length', undefined);
    if (rng.chance(0.3)) headers.push(['Content-Length', String(body.length)]);
    headers.push(['Transfer-Encoding', rng.pick(['chunked', 'chunked', 'gzip, chunked', 'identity'])]);
    const size = rng.pick([body.length.toString(16), 'zz', 'ffffffffffffffff', `${body.length.toString(16)};ext=1`, '-1']);
    payload = Buffer.concat([Buffer.from(`${size}\r\n`), body, Buffer.from(rng.chance(0.8) ? '\r\n0\r\n\r\n' : '\r\n')]);
    framing = `chunked(${size})`;
  } else if (roll < 0.18) {
    headers.push(['X-Big', 'x'.repeat(rng.pick([9000, 20_000, 100_000]))]);
    framing = 'big-header';
  } else if (roll < 0.2) {
    for (let i = 0; i < rng.pick([200, 3000]); i++) headers.push([`X-H${i}`, 'v']);
    framing = 'many-headers';
  } else if (roll < 0.24) {
    requestLine = rng.pick([
      `${req.method.toLowerCase()} ${req.path} HTTP/1.1`,
      `${req.method} ${req.path} HTTP/1.0`,
      `${req.method} ${req.path} HTTP/2.0`,
      `${req.method} ${req.path}`,
      `${req.method} http://127.0.0.1${req.path} HTTP/1.1`,
      `${req.method} ${req.path}%00/../x HTTP/1.1`,
      `${req.method} /${'a'.repeat(10_000)} HTTP/1.1`,
      `${req.method}  ${req.path}  HTTP/1.1`,
    ]);
    framing = 'request-line';
  } else if (roll < 0.28) {
    const bad = rng.pick([['X-Null', 'a\u0000b'], ['X-Fold', 'a\r\n b'], ['No Colon', ''], ['X-Utf8', 'é'], ['Content-Type ', 'application/json']] as const);
    headers.push([bad[0], bad[1]]);
    framing = `bad-header(${bad[0]})`;
  }
  if (rng.chance(0.1)) headers.push(['Connection', rng.pick(['close', 'keep-alive', 'upgrade'])]);
  const head = `${requestLine}\r\n${headers.map(([k, v]) => (v === '' && k.includes(' ') ? k : `${k}: ${v}`)).join('\r\n')}\r\n\r\n`;
  let bytes: Buffer = Buffer.concat([Buffer.from(head, 'utf8'), payload]);
  let label = framing === '' ? req.label : `${req.label}+${framing}`;
  if (rng.chance(0.15)) {
    const mutated = mutateBytes(rng, bytes);
    bytes = mutated.bytes;
    label = `${label}+${mutated.label}`;
  }
  return { bytes, label: `${req.method} ${req.path.slice(0, 60)} ${label}` };
}

function setHeader(headers: Array<[string, string]>, name: string, value: string | undefined): void {
  const i = headers.findIndex(([k]) => k.toLowerCase() === name.toLowerCase());
  if (i >= 0) headers.splice(i, 1);
  if (value !== undefined) headers.push([name, value]);
}

function session(rng: Rng, targets: FuzzTargets): FuzzSession {
  const inputs: FuzzInput[] = [];
  for (let n = rng.range(1, 8); n > 0; n--) inputs.push(render(rng, request(rng, targets)));
  return { inputs, writes: planWrites(rng, inputs), probe: PROBE, facts: {} };
}

function reader(_session: FuzzSession, onAnswer: (answer: Answer) => void): AnswerReader {
  let probeAnswered = false;
  const responses = new HttpResponseReader((response) => {
    if (response.status === 404 && response.body.includes(PROBE_PATH)) {
      probeAnswered = true;
      return onAnswer({ key: 'http 404 (probe)', error: false });
    }
    onAnswer({ key: httpAnswerKey(response), error: response.status >= 400 });
  });
  return {
    push: (data) => responses.push(data),
    get probeAnswered() {
      return probeAnswered;
    },
  };
}

export const httpFuzzer: ProtocolFuzzer = {
  protocol: 'http',
  transport: 'tcp',
  port: (targets) => targets.httpPort,
  session,
  reader,
};
