import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, parseConfig, type ServerConfig } from '../config.js';
import { createRpcServer, defaultLogger } from '../server.js';
import { UsageError, port } from './arguments.js';

export const SERVE_USAGE = `Usage: iot-rpc serve [options]

Runs the standalone server: in memory on one node by default; with --redis, one node of a
cluster (every node started with the same Redis takes any call and routes it to the device).

Options (each also an environment variable):
  --config FILE      configuration JSON (IOT_RPC_CONFIG)
  --host HOST        interface to listen on, default 127.0.0.1 (IOT_RPC_HOST); beyond loopback only
                     with a JWT secret that is not the demo's
  --http-port PORT   REST API and MQTT over WebSocket at /mqtt, default 8080 (IOT_RPC_HTTP_PORT)
  --mqtt-port PORT   MQTT over TCP, default 1883 (IOT_RPC_MQTT_PORT)
  --coap-port PORT   CoAP over UDP, default 5683 (IOT_RPC_COAP_PORT)
  --metrics-port PORT  GET /metrics (Prometheus) on a port of its own instead of the HTTP port
                     (IOT_RPC_METRICS_PORT; config metrics.enabled false turns metrics off)
  --log-level LEVEL  trace|debug|info|warn|error, default info (IOT_RPC_LOG_LEVEL)
  --redis URL        devices, users and persistent calls in Redis, and the cluster's directory
                     and inboxes (redis://host:port; comma-separated seeds for a Redis Cluster)
                     (IOT_RPC_REDIS_URL)
  --node-id ID       this node's name in the cluster: unique among running nodes, the same
                     across its restarts; default random (IOT_RPC_NODE_ID)
  -h, --help         this text
  -v, --version      the version`;

/**
 * examples/demo.json's secret: public, so a server that others can reach must not accept tokens signed with it.
 * (A secret under 32 characters is refused everywhere, by the configuration's own check.)
 */
const DEMO_SECRET = 'demo-secret-change-me-demo-secret-change-me-0123456789';
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** Anyone who knows the secret can sign a token: beyond loopback it must be the operator's own. */
function checkSecretFor(host: string, config: ServerConfig): void {
  const secret = config.jwt.secret;
  if (isLoopback(host) || secret === undefined) return;
  if (secret === DEMO_SECRET) throw new ConfigError(`refusing to listen on ${host} with the demo JWT secret, which is public: set jwt.secret in your own config`);
}

function nodeId(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw new UsageError(`--node-id must be 1 to 64 letters, digits, '.', '_' or '-', got "${value}"`);
  return value;
}

export async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'mqtt-port': { type: 'string' },
      'coap-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      'log-level': { type: 'string' },
      redis: { type: 'string' },
      'node-id': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(SERVE_USAGE);
    return;
  }
  const env = process.env;
  /** A setting from its flag, else its environment variable: an error names the one that was given. */
  const setting = (flag: keyof typeof values & string, variable: string) =>
    values[flag] !== undefined ? { name: `--${flag}`, value: values[flag] as string } : { name: variable, value: env[variable] };
  const logLevel = setting('log-level', 'IOT_RPC_LOG_LEVEL');
  if (logLevel.value !== undefined && logLevel.value !== '' && !LOG_LEVELS.includes(logLevel.value)) {
    throw new UsageError(`${logLevel.name} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel.value}"`);
  }
  const logger = defaultLogger(logLevel.value || 'info');
  const configPath = values.config ?? env.IOT_RPC_CONFIG;
  let config: ServerConfig;
  if (configPath !== undefined && configPath !== '') {
    config = await loadConfigFile(configPath);
  } else {
    logger.warn('no --config: starting with no users and no devices, and a JWT secret that changes at every start');
    config = parseConfig({ jwt: { secret: randomBytes(48).toString('base64url') } });
  }
  const portSetting = (flag: 'http-port' | 'mqtt-port' | 'coap-port' | 'metrics-port', variable: string, fallback: number) => {
    const { name, value } = setting(flag, variable);
    return port(name, value, fallback);
  };
  const coapPort = portSetting('coap-port', 'IOT_RPC_COAP_PORT', 5683);
  const metricsPort = setting('metrics-port', 'IOT_RPC_METRICS_PORT');
  if (metricsPort.value !== undefined && metricsPort.value !== '') config = { ...config, metrics: { ...config.metrics, port: portSetting('metrics-port', 'IOT_RPC_METRICS_PORT', 0) } };
  const host = values.host ?? env.IOT_RPC_HOST ?? '127.0.0.1';
  checkSecretFor(host, config);
  const server = createRpcServer({
    config,
    logger,
    host,
    httpPort: portSetting('http-port', 'IOT_RPC_HTTP_PORT', 8080),
    mqttPort: portSetting('mqtt-port', 'IOT_RPC_MQTT_PORT', 1883),
    coapPort,
    redis: values.redis ?? env.IOT_RPC_REDIS_URL,
    nodeId: nodeId(values['node-id'] ?? env.IOT_RPC_NODE_ID),
  });
  const addresses = await server.listen();
  // JSON like every log line, and printed whatever the log level: scripts wait for it.
  console.log(
    JSON.stringify({
      level: 30,
      time: Date.now(),
      name: 'iot-rpc',
      msg: 'iot-rpc listening',
      http: `http://${addresses.host}:${addresses.httpPort}`,
      mqtt: `mqtt://${addresses.host}:${addresses.mqttPort}`,
      coap: `coap://${addresses.host}:${addresses.coapPort}`,
      ...(addresses.metricsPort === undefined ? {} : { metrics: `http://${addresses.host}:${addresses.metricsPort}/metrics` }),
    }),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('graceful shutdown took too long; exiting');
      process.exit(1);
    }, 5000).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

