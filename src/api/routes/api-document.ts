import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { RpcError } from '../../errors.js';
import type { RouteHandler } from '../http-api.js';
import { sendJson } from '../http-io.js';

/** `GET /api/openapi.json`: the document, made once from the route table. */
export const openApiRoute = (document: () => unknown): RouteHandler => {
  let made: unknown;
  return async (_req, res) => sendJson(res, 200, (made ??= document()));
};

const swaggerUiDir: string = (createRequire(import.meta.url)('swagger-ui-dist') as { getAbsoluteFSPath(): string }).getAbsoluteFSPath();
/** The files the page loads, from the installed swagger-ui-dist package: nothing is fetched from elsewhere. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iot-rpc API</title>
<link rel="stylesheet" href="./swagger-ui.css">
<link rel="stylesheet" href="./index.css">
<link rel="icon" type="image/png" href="./favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="./swagger-ui-bundle.js"></script>
<script src="./swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: '../api/openapi.json', dom_id: '#swagger-ui', deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout', persistAuthorization: true });
</script>
</body>
</html>
`;

/** `GET /swagger-ui/` and its files: Swagger UI on the document, as ThingsBoard serves it, offline. */
export const swaggerUiRoute = (): RouteHandler => {
  const cache = new Map<string, Buffer>();
  return async (_req, res, params) => {
    const file = params['*'] ?? '';
    if (file === '' || file === 'index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(PAGE) });
      return void res.end(PAGE);
    }
    const type = ASSETS[file];
    if (type === undefined) throw new RpcError('IOT_ERR_NOT_FOUND', `/swagger-ui/${file.slice(0, 100)}`);
    let body = cache.get(file);
    if (body === undefined) cache.set(file, (body = readFileSync(join(swaggerUiDir, file))));
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'public, max-age=3600' });
    res.end(body);
  };
};
