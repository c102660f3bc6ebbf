import type { ServerResponse } from 'node:http';
import type { EngineMetrics } from '../../metrics/engine-metrics.js';
import type { RouteHandler } from '../http-api.js';

export async function sendMetrics(res: ServerResponse, metrics: EngineMetrics): Promise<void> {
  const { contentType, body } = await metrics.exposition();
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** `GET /metrics`: Prometheus text format (no token: serve it where only the scraper reaches, or on `--metrics-port`). */
export const metricsRoute = (metrics: EngineMetrics): RouteHandler => (_req, res) => sendMetrics(res, metrics);
