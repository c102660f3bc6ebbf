import { parseBoundedJson } from '../../bounded-json.js';
import { attributesAnswer, parseAttributesRequest } from '../../device-data/attributes-request.js';
import { DeviceDataError } from '../../device-data/device-data-payload.js';
import { RpcError } from '../../errors.js';
import type { Device } from '../../registry/device-registry.js';
import { errorAnswer, type CoapAnswer } from './answer.js';
import type { CoapMessage } from './codec.js';
import { CONTENT_FORMAT_JSON } from './observation.js';
import type { CoapServer } from './server.js';

/** The query of an attribute request: `?clientKeys=a,b&sharedKeys=c` (Uri-Query options). */
function queryOf(message: CoapMessage): Record<string, string> {
  const query: Record<string, string> = {};
  for (const option of message.options) {
    if (option.name !== 'Uri-Query') continue;
    const text = option.value.toString('utf8');
    const equals = text.indexOf('=');
    if (equals > 0) query[text.slice(0, equals)] = text.slice(equals + 1);
  }
  return query;
}

function refused(error: unknown): CoapAnswer {
  if (error instanceof DeviceDataError) return errorAnswer(error.toRpcError());
  return errorAnswer(new RpcError('IOT_ERR_INVALID_JSON', (error as Error).message));
}

/**
 * ThingsBoard's CoAP device data: `POST /api/v1/{token}/telemetry` and `…/attributes` → 2.01, values kept;
 * `GET …/attributes?clientKeys=&sharedKeys=` → 2.05 `{"client","shared"}`. A payload ThingsBoard refuses is 4.00,
 * one past the data limits 4.13.
 */
export async function handleDataRequest(server: CoapServer, message: CoapMessage, device: Device, resource: 'telemetry' | 'attributes'): Promise<CoapAnswer> {
  const { deviceData, maxJsonDepth } = server.context;
  try {
    if (message.code === '0.02') {
      await deviceData.recordFromDevice(device, resource, parseBoundedJson(message.payload.toString('utf8'), maxJsonDepth));
      return { code: '2.01' };
    }
    if (message.code === '0.01' && resource === 'attributes') {
      const query = queryOf(message);
      const answer = await attributesAnswer(deviceData, device.id, parseAttributesRequest({ clientKeys: query.clientKeys, sharedKeys: query.sharedKeys }));
      return { code: '2.05', payload: Buffer.from(JSON.stringify(answer)), options: [{ name: 'Content-Format', value: CONTENT_FORMAT_JSON }] };
    }
  } catch (error) {
    return refused(error);
  }
  return errorAnswer(new RpcError('IOT_ERR_METHOD_NOT_ALLOWED', `${message.code === '0.01' ? 'GET' : message.code} on /api/v1/{token}/${resource}`));
}
