/**
 * HTTP load for the rpc-rest scenario, in its own process: keep-alive
 * connections (undici Pool) posting `/api/rpc/twoway/{deviceId}` with a JWT.
 */
import { Pool } from 'undici';
import { argument, serveCommands } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { CALL_TIMEOUT_MS, METHOD, PARAMS } from '../lib/payload.js';

const url = argument('url');
const token = argument('token');
const connections = Number(argument('connections', '256'));
const pool = new Pool(url, { connections, pipelining: 1 });
const body = JSON.stringify({ method: METHOD, params: PARAMS, timeout: CALL_TIMEOUT_MS });
const headers = { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` };

async function call(device: number): Promise<unknown> {
  const res = await pool.request({ method: 'POST', path: `/api/rpc/twoway/d${device}`, headers, body });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text}`);
  return text;
}

serveCommands({ ready: true }, (command) => {
  if (command.type === 'load') return runLoad(call, command as unknown as LoadOptions);
  throw new Error(`unknown command ${String(command.type)}`);
}, () => pool.close());
