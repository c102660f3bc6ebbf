import type { RouteHandler } from '../../api/http-api.js';
import { parseJson, readBody, sendJson, sendEmpty } from '../../api/http-io.js';
import { attributesAnswer, parseAttributesRequest } from '../../device-data/attributes-request.js';
import { DeviceDataError } from '../../device-data/device-data-payload.js';
import { ScheduledTask } from '../../scheduling/scheduled-task.js';
import { deviceByToken, pollTimeout, type HttpDeviceContext } from './device-routes.js';

/** `POST /api/v1/{token}/telemetry` and `…/attributes` (ThingsBoard's HTTP device API): 200, latest values kept. */
export function deviceDataRoute(context: HttpDeviceContext, kind: 'telemetry' | 'attributes'): RouteHandler {
  return async (req, res, params) => {
    const device = deviceByToken(context, params.token);
    const payload = parseJson(await readBody(req, context), context.maxJsonDepth);
    // A payload ThingsBoard refuses is 400; one past the data limits 413; 503 while the cluster's store is away.
    await context.deviceData.recordFromDevice(device, kind, payload).catch(DeviceDataError.rethrowAsRpcError);
    sendEmpty(res, 200);
  };
}

/** `GET /api/v1/{token}/attributes?clientKeys=a,b&sharedKeys=c`: `{"client":{…},"shared":{…}}`. */
export function attributesRequestRoute(context: HttpDeviceContext): RouteHandler {
  return async (_req, res, params, query) => {
    const device = deviceByToken(context, params.token);
    const answer = await Promise.resolve()
      .then(() => attributesAnswer(context.deviceData, device.id, parseAttributesRequest({ clientKeys: query.clientKeys, sharedKeys: query.sharedKeys })))
      .catch(DeviceDataError.rethrowAsRpcError);
    sendJson(res, 200, answer);
  };
}

/**
 * `GET /api/v1/{token}/attributes/updates?timeout=ms` (ThingsBoard's long-poll): the next shared attribute update as
 * `{"key":value}`, or 408 when none came in time. Updates while no poll waits are not kept for the next one: a
 * device reads the current values with `GET …/attributes`, as with ThingsBoard.
 */
export function attributeUpdatesRoute(context: HttpDeviceContext): RouteHandler {
  return async (_req, res, params, query) => {
    const device = deviceByToken(context, params.token);
    const timeoutMs = pollTimeout(query);
    const stop = () => {
      stopListening();
      timeout.cancel();
    };
    const stopListening = context.attributeUpdates.listen(device.id, (values) => {
      stop();
      if (!res.headersSent && !res.destroyed) sendJson(res, 200, values);
    });
    const timeout = new ScheduledTask(context.scheduler, () => {
      stop();
      if (!res.headersSent && !res.destroyed) res.writeHead(408, { 'content-length': 0 }).end();
    });
    timeout.runIn(timeoutMs);
    res.once('close', stop);
  };
}
