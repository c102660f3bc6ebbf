import type { ServerResponse } from 'node:http';
import type { RpcEngine } from '../../engine.js';
import type { CheckResult } from '../../health/readiness.js';
import type { RouteHandler } from '../http-api.js';

/** The IETF health-check draft's answer: `application/health+json`, `status` pass or fail, the checks by name. */
function sendHealth(res: ServerResponse, checks: Record<string, CheckResult[]>): void {
  const failing = Object.entries(checks).filter(([, results]) => results.some((r) => r.status === 'fail'));
  const body = JSON.stringify({
    status: failing.length === 0 ? 'pass' : 'fail',
    ...(failing.length === 0 ? {} : { output: `failing: ${failing.map(([name]) => name).join(', ')}` }),
    checks,
  });
  res.writeHead(failing.length === 0 ? 200 : 503, { 'content-type': 'application/health+json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** `GET /livez`: 200 while the process can serve (it answers, so it can). */
export const livezRoute = (): RouteHandler => async (_req, res) => sendHealth(res, {});

/** `GET /readyz`: 200 only when this node may be sent traffic (Readiness), 503 naming what fails. */
export const readyzRoute = (engine: RpcEngine): RouteHandler => async (_req, res) => sendHealth(res, engine.readiness.checks());
