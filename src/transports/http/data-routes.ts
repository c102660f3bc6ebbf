import type { RouteHandler } from '../../api/http-api.js';
import { parseJson, readBody, sendJson, sendEmpty } from '../../api/http-io.js';
import { attributesAnswer, parseAttributesRequest } from '../../device-data/attributes-request.js';
import { DeviceDataError } from '../../device-data/device-data-payload.js';
import { deviceByToken, type HttpDeviceContext } from './device-routes.js';

/** A payload ThingsBoard refuses is 400; one past the data limits 413. */
function refused(error: unknown): never {
  throw error instanceof DeviceDataError ? error.toRpcError() : error;
}

/** `POST /api/v1/{token}/telemetry` and `…/attributes` (ThingsBoard's HTTP device API): 200, latest values kept. */
export function deviceDataRoute(context: HttpDeviceContext, kind: 'telemetry' | 'attributes'): RouteHandler {
  return async (req, res, params) => {
    const device = deviceByToken(context, params.token);
    const payload = parseJson(await readBody(req, context), context.maxJsonDepth);
    try {
      context.deviceData.recordFromDevice(device, kind, payload);
    } catch (error) {
      refused(error);
    }
    sendEmpty(res, 200);
  };
}

/** `GET /api/v1/{token}/attributes?clientKeys=a,b&sharedKeys=c`: `{"client":{…},"shared":{…}}`. */
export function attributesRequestRoute(context: HttpDeviceContext): RouteHandler {
  return async (_req, res, params, query) => {
    const device = deviceByToken(context, params.token);
    let answer: ReturnType<typeof attributesAnswer>;
    try {
      answer = attributesAnswer(context.deviceData, device.id, parseAttributesRequest({ clientKeys: query.clientKeys, sharedKeys: query.sharedKeys }));
    } catch (error) {
      refused(error);
    }
    sendJson(res, 200, answer);
  };
}
