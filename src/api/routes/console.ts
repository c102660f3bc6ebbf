import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { RpcError } from '../../errors.js';
import type { RouteHandler } from '../http-api.js';

/** dist/console, built by `npm run build` (scripts/build-console.mjs), from the built server or from its sources. */
function consoleDir(): string | undefined {
  for (const candidate of ['../../console/', '../../../dist/console/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}app.js`)) return dir;
  }
  return undefined;
}

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'widgets.js': 'text/javascript; charset=utf-8',
};

/** `GET /` and `GET /console/{file}`: the web console and the widgets' module, from what the build made, gzipped for a browser that takes it. */
export const consoleRoute = (): RouteHandler => {
  const dir = consoleDir();
  const cache = new Map<string, { plain: Buffer; gzip: Buffer }>();
  return async (req, res, params) => {
    const file = params['*'] ?? 'index.html';
    const type = FILES[file];
    if (type === undefined) throw new RpcError('IOT_ERR_NOT_FOUND', `/console/${file.slice(0, 100)}`);
    if (dir === undefined) throw new RpcError('IOT_ERR_UNAVAILABLE', 'the web console is not built: run npm run build');
    let bodies = cache.get(file);
    if (bodies === undefined) {
      const plain = readFileSync(`${dir}${file}`);
      cache.set(file, (bodies = { plain, gzip: gzipSync(plain, { level: 9 }) }));
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? bodies.gzip : bodies.plain;
    res.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'cache-control': file === 'index.html' ? 'no-cache' : 'public, max-age=300',
      vary: 'Accept-Encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(body);
  };
};
