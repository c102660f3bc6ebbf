import { z } from 'zod';
import { Withdrawal } from '../../actors/withdrawal.js';
import { BulkTally, runBulk, type BulkResult, type BulkTarget } from '../../bulk/bulk-run.js';
import type { RpcEngine } from '../../engine.js';
import { RpcError } from '../../errors.js';
import type { Principal } from '../auth/token-service.js';
import { authenticate, requireDeviceAccess } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendJson } from '../http-io.js';
import { parseRpcBody, runParsedRpc } from '../rpc-request.js';
import { validated } from '../validation.js';

export const bulkTargetSchema = z.object({
  deviceIds: z.array(z.string().min(1).max(255)).optional(),
  deviceType: z.string().min(1).max(255).optional(),
  nameContains: z.string().min(1).max(255).optional(),
  oneway: z.boolean().optional(),
});

/**
 * Which devices a bulk request reaches, for this caller: the ids it names, each checked as a single call would be
 * (a device it may not reach is a 403 or 404 result of its own, never a sign that it exists elsewhere), then the
 * devices of its tenant (a customer user: of its customer) that match `deviceType` and `nameContains`.
 */
async function targetsOf(engine: RpcEngine, principal: Principal, body: z.infer<typeof bulkTargetSchema>): Promise<BulkTarget[]> {
  if (principal.role === 'SYS_ADMIN' || principal.tenantId === null) throw new RpcError('IOT_ERR_FORBIDDEN', 'a system administrator cannot reach devices');
  const selects = body.deviceType !== undefined || body.nameContains !== undefined;
  if (body.deviceIds === undefined && !selects) throw new RpcError('IOT_ERR_BAD_REQUEST', 'name the devices: "deviceIds", and/or a selector "deviceType" / "nameContains"');
  const max = engine.config.limits.maxBulkDevices;
  const tooMany = (count: number) => new RpcError('IOT_ERR_BAD_REQUEST', `a bulk call reaches at most ${max} devices (limits.maxBulkDevices); this one would reach ${count}`);
  const ids = [...new Set(body.deviceIds ?? [])];
  if (ids.length > max) throw tooMany(ids.length);
  const targets: BulkTarget[] = [];
  for (const deviceId of ids) {
    try {
      requireDeviceAccess(principal, await engine.findDevice(deviceId), deviceId);
      targets.push({ deviceId });
    } catch (error) {
      targets.push({ deviceId, refused: error as RpcError });
    }
  }
  if (selects) {
    const named = new Set(ids);
    const customerUser = principal.role === 'CUSTOMER_USER';
    const candidates = customerUser && principal.customerId === null ? [] : engine.devices.ofTenant(principal.tenantId, customerUser ? principal.customerId! : undefined);
    for (const device of candidates) {
      if (named.has(device.id)) continue;
      if (body.deviceType !== undefined && device.type !== body.deviceType) continue;
      if (body.nameContains !== undefined && !device.name.toLowerCase().includes(body.nameContains.toLowerCase())) continue;
      targets.push({ deviceId: device.id });
    }
  }
  if (targets.length > max) throw tooMany(targets.length);
  return targets;
}

/**
 * A bulk call for the REST and WebSocket APIs: the caller's targets, then each device called as `POST /api/rpc/…`
 * would call it (one-way, two-way or persistent), at most `rpc.bulkConcurrency` at once.
 */
export async function startBulk(engine: RpcEngine, principal: Principal, input: unknown, withdrawal: Withdrawal): Promise<AsyncGenerator<BulkResult>> {
  const selection = validated(bulkTargetSchema, input);
  const request = parseRpcBody(input);
  const targets = await targetsOf(engine, principal, selection);
  const oneway = selection.oneway === true;
  return runBulk(
    targets,
    async (deviceId) => {
      const device = await engine.findDevice(deviceId);
      if (device === undefined) throw new RpcError('IOT_ERR_DEVICE_NOT_FOUND', deviceId);
      const outcome = await runParsedRpc(engine, device, oneway, request, withdrawal);
      if (outcome.persistent) return { rpcId: outcome.rpcId };
      return oneway ? {} : { response: outcome.result };
    },
    engine.config.rpc.bulkConcurrency,
    withdrawal,
  );
}

/**
 * `POST /api/rpc/bulk` `{"deviceIds":[…]|"deviceType"|"nameContains", "method", "params", "timeout", "oneway",
 * "persistent"}`: 200 `{"results":[{"deviceId","status","response"|"rpcId"|"error"}],"summary"}` once every device
 * has answered or timed out.
 */
export function bulkRoute(engine: RpcEngine): RouteHandler {
  return async (req, res) => {
    engine.admit();
    const principal = await authenticate(req, engine.tokens);
    // Up to limits.maxBulkDevices ids: a larger body than one call's.
    const body = await readJsonBody(req, { maxHttpBodyBytes: engine.config.limits.maxBulkBodyBytes, maxJsonDepth: engine.maxJsonDepth, httpBodyTimeoutMs: engine.httpBodyTimeoutMs });
    const hangUp = new Withdrawal();
    res.once('close', () => {
      if (!res.writableFinished) hangUp.withdraw();
    });
    const tally = new BulkTally();
    const results: BulkResult[] = [];
    for await (const result of await startBulk(engine, principal, body, hangUp)) results.push(tally.add(result));
    sendJson(res, 200, { results, summary: tally.summary });
  };
}
