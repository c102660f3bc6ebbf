export { createHttpApi } from './http-api.js';
export type { HttpHandler } from './http-api.js';
export { TokenService } from './auth/token-service.js';
export type { JwtSettings, Principal } from './auth/token-service.js';
