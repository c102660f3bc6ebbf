export { clientCallRoute, pollRoute, replyRoute, DEFAULT_POLL_MS, MAX_POLL_MS } from './device-routes.js';
export { attributesRequestRoute, deviceDataRoute } from './data-routes.js';
export type { HttpDeviceContext } from './device-routes.js';
