export { HandlerRegistry } from './handler-registry.js';
export type { CallingDevice, ClientRpcHandler } from './handler-registry.js';
