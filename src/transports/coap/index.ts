export { CoapServer } from './server.js';
export type { CoapContext } from './server.js';
