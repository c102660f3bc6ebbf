#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError } from './config.js';
import { UsageError } from './cli/arguments.js';
import { SERVE_USAGE, serve } from './cli/serve.js';
import { SIMULATE_USAGE, simulate } from './cli/simulate.js';

const USAGE = `Usage: iot-rpc <command> [options]

Commands:
  serve       run the standalone server
  simulate    run simulated devices against a server

iot-rpc <command> --help for its options.

${SERVE_USAGE}

${SIMULATE_USAGE}`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'simulate':
      return simulate(rest);
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

const ARGUMENT_ERRORS = new Set(['ERR_PARSE_ARGS_UNKNOWN_OPTION', 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL']);

main(process.argv.slice(2)).catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  if (error instanceof ConfigError) {
    console.error(`iot-rpc: ${error.message}`);
    process.exit(2);
  }
  if (error instanceof UsageError || (code !== undefined && ARGUMENT_ERRORS.has(code))) {
    console.error(`iot-rpc: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    console.error(`iot-rpc: cannot listen: ${(error as Error).message}`);
    process.exit(1);
  }
  console.error(`iot-rpc: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
