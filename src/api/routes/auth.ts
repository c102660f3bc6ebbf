import { z } from 'zod';
import type { RpcEngine } from '../../engine.js';
import { RpcError } from '../../errors.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendError, sendJson } from '../http-io.js';
import { validated } from '../validation.js';

export const loginSchema = z.object({ username: z.string().min(1), password: z.string().min(1) });
export const refreshSchema = z.object({ refreshToken: z.string().min(1) });

/** `POST /api/auth/login {"username","password"}` → `{"token","refreshToken"}`. */
export function loginRoute(engine: RpcEngine): RouteHandler {
  return async (req, res) => {
    const { username, password } = validated(loginSchema, await readJsonBody(req, engine));
    const user = await engine.users.authenticate(username, password);
    const remote = req.socket.remoteAddress;
    if (user === undefined) {
      engine.logger.info({ username: username.slice(0, 255), remote }, 'login failed');
      throw new RpcError('IOT_ERR_BAD_CREDENTIALS');
    }
    engine.logger.info({ user: user.email, role: user.role, remote }, 'login');
    sendJson(res, 200, await engine.tokens.issue(user));
  };
}

/** `POST /api/auth/token {"refreshToken"}` → a new pair, for a user who still exists. */
export function refreshRoute(engine: RpcEngine): RouteHandler {
  return async (req, res) => {
    const { refreshToken } = validated(refreshSchema, await readJsonBody(req, engine));
    const userId = await engine.tokens.verifyRefresh(refreshToken);
    const user = engine.users.get(userId);
    if (user === undefined) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'the user of this refresh token no longer exists');
    sendJson(res, 200, await engine.tokens.issue(user));
  };
}
