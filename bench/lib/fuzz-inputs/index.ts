import { coapFuzzer } from './coap.js';
import { httpFuzzer } from './http.js';
import { mqttFuzzer } from './mqtt.js';
import type { FuzzProtocol, ProtocolFuzzer } from './types.js';
import { wsFuzzer } from './ws.js';

export const FUZZERS: Record<FuzzProtocol, ProtocolFuzzer> = { mqtt: mqttFuzzer, coap: coapFuzzer, http: httpFuzzer, ws: wsFuzzer };
export { FUZZ_PROTOCOLS, type FuzzProtocol, type FuzzTargets } from './types.js';
