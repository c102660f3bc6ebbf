import type { RpcEngine } from '../../engine.js';
import { RpcError } from '../../errors.js';
import { authenticate, requireDeviceAccess } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendEmpty, sendError, sendJson } from '../http-io.js';
import { runRpc } from '../rpc-request.js';

/** `POST /api/rpc/{oneway|twoway}/{deviceId}` and, with `legacy`, `/api/plugins/rpc/…`. */
export function rpcRoute(engine: RpcEngine, legacy: boolean): RouteHandler {
  return async (req, res, params) => {
    try {
      const kind = params.kind;
      if (kind !== 'oneway' && kind !== 'twoway') throw new RpcError('IOT_ERR_NOT_FOUND', `${req.url}: expected /oneway/ or /twoway/`);
      const principal = await authenticate(req, engine.tokens);
      const deviceId = params.deviceId!;
      requireDeviceAccess(principal, await engine.findDevice(deviceId), deviceId);
      const body = await readJsonBody(req, engine.maxHttpBodyBytes);
      // A caller that hangs up no longer holds one of the device's pending-call slots.
      const hangUp = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) hangUp.abort();
      });
      const outcome = await runRpc(engine, principal, deviceId, kind === 'oneway', body, hangUp.signal);
      if (outcome.persistent) sendJson(res, 200, { rpcId: outcome.rpcId });
      else if (kind === 'oneway') sendEmpty(res, 200);
      else sendJson(res, 200, outcome.result);
    } catch (error) {
      sendError(res, error, legacy);
    }
  };
}
