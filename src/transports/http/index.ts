export { clientCallRoute, pollRoute, replyRoute, DEFAULT_POLL_MS, MAX_POLL_MS } from './device-routes.js';
export { attributeUpdatesRoute, attributesRequestRoute, deviceDataRoute } from './data-routes.js';
export type { HttpDeviceContext } from './device-routes.js';
