import type { RpcEngine } from '../../engine.js';
import { Withdrawal } from '../../actors/withdrawal.js';
import { RpcError } from '../../errors.js';
import { authenticate, requireDeviceAccess } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendEmpty, sendJson } from '../http-io.js';
import { runRpc } from '../rpc-request.js';

/** `POST /api/rpc/{oneway|twoway}/{deviceId}` and the legacy `/api/plugins/rpc/…` (its error statuses are the router's). */
export function rpcRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params) => {
    const kind = params.kind;
    if (kind !== 'oneway' && kind !== 'twoway') throw new RpcError('IOT_ERR_NOT_FOUND', `${req.url}: expected /oneway/ or /twoway/`);
    // Shed before any work (a JWT check, a body) when a new call could only be answered late.
    engine.admit();
    const principal = await authenticate(req, engine.tokens);
    const deviceId = params.deviceId!;
    const device = requireDeviceAccess(principal, await engine.findDevice(deviceId), deviceId);
    const body = await readJsonBody(req, engine);
    // A caller that hangs up no longer holds one of the device's pending-call slots.
    const hangUp = new Withdrawal();
    res.once('close', () => {
      if (!res.writableFinished) hangUp.withdraw();
    });
    const outcome = await runRpc(engine, device, kind === 'oneway', body, hangUp);
    if (outcome.persistent) sendJson(res, 200, { rpcId: outcome.rpcId });
    else if (kind === 'oneway') sendEmpty(res, 200);
    else sendJson(res, 200, outcome.result);
  };
}
