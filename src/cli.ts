#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, parseConfig, type ServerConfig } from './config.js';
import { createRpcServer, defaultLogger } from './server.js';

const USAGE = `Usage: iot-rpc serve [options]

Runs the standalone server (in memory, single node).

Options (each also an environment variable):
  --config FILE      configuration JSON (IOT_RPC_CONFIG)
  --host HOST        interface to listen on, default 0.0.0.0 (IOT_RPC_HOST)
  --http-port PORT   REST API and MQTT over WebSocket at /mqtt, default 8080 (IOT_RPC_HTTP_PORT)
  --mqtt-port PORT   MQTT over TCP, default 1883 (IOT_RPC_MQTT_PORT)
  --coap-port PORT   CoAP over UDP, default 5683 (IOT_RPC_COAP_PORT)
  --log-level LEVEL  trace|debug|info|warn|error, default info (IOT_RPC_LOG_LEVEL)
  -h, --help         this text
  -v, --version      the version`;

class UsageError extends Error {}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${name} must be a port number (0-65535), got "${value}"`);
  return n;
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'mqtt-port': { type: 'string' },
      'coap-port': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const env = process.env;
  const logger = defaultLogger(values['log-level'] ?? env.IOT_RPC_LOG_LEVEL ?? 'info');
  const configPath = values.config ?? env.IOT_RPC_CONFIG;
  let config: ServerConfig;
  if (configPath !== undefined && configPath !== '') {
    config = await loadConfigFile(configPath);
  } else {
    logger.warn('no --config: starting with no users and no devices, and a JWT secret that changes at every start');
    config = parseConfig({ jwt: { secret: randomBytes(48).toString('base64url') } });
  }
  const coapPort = port('--coap-port', values['coap-port'] ?? env.IOT_RPC_COAP_PORT, 5683);
  const server = createRpcServer({
    config,
    logger,
    host: values.host ?? env.IOT_RPC_HOST ?? '0.0.0.0',
    httpPort: port('--http-port', values['http-port'] ?? env.IOT_RPC_HTTP_PORT, 8080),
    mqttPort: port('--mqtt-port', values['mqtt-port'] ?? env.IOT_RPC_MQTT_PORT, 1883),
  });
  const addresses = await server.listen();
  logger.info({ coapPort }, 'CoAP transport is not part of this build yet; --coap-port is accepted and unused');
  console.log(`iot-rpc listening: http://${addresses.host}:${addresses.httpPort} (REST, ws /mqtt), mqtt://${addresses.host}:${addresses.mqttPort}`);
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

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case '-v':
    case '--version':
      console.log(version());
      return;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError) {
    console.error(`iot-rpc: ${error.message}`);
    if (error instanceof UsageError) console.error(`\n${USAGE}`);
    process.exit(2);
  }
  if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (error as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    console.error(`iot-rpc: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if ((error as { code?: string }).code === 'EADDRINUSE' || (error as { code?: string }).code === 'EACCES') {
    console.error(`iot-rpc: cannot listen: ${(error as Error).message}`);
    process.exit(1);
  }
  console.error(error);
  process.exit(1);
});
