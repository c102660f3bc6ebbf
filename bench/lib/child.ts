/**
 * The child side of the runner's protocol: a process announces `{ready}` with
 * what it offers, then answers `{id, command}` messages with `{id, result}` or
 * `{id, error}`, and exits on `stop` or when the runner goes away.
 */
export type CommandHandler = (command: Record<string, unknown>) => Promise<unknown> | unknown;

export function serveCommands(ready: Record<string, unknown>, handle: CommandHandler, onStop: () => Promise<void> | void = () => {}): void {
  const stop = async () => {
    try {
      await onStop();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (message: { id: number; command: Record<string, unknown> }) => {
    if (message.command.type === 'stop') {
      process.send?.({ id: message.id, result: 'stopping' }, () => void stop());
      return;
    }
    Promise.resolve()
      .then(() => handle(message.command))
      .then(
        (result) => process.send?.({ id: message.id, result }),
        (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
      );
  });
  process.on('disconnect', () => void stop());
  process.send?.({ ready });
}

export function argument(name: string, fallback?: string): string {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? process.argv[index + 1] : undefined;
  if (value === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  }
  return value;
}
