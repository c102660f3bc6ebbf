import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { RpcError } from '../../src/errors.js';
import { InternalErrorLog } from '../../src/internal-error-log.js';

function capture() {
  const lines: Array<{ level: number; msg: string; err?: { stack?: string }; suppressed?: number }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { lines, log: new InternalErrorLog(pino({ level: 'debug' }, stream)) };
}

describe('InternalErrorLog', () => {
  it('logs a 500 at error level with the stack of its cause; other errors not at all', async () => {
    const { lines, log } = capture();
    log.report(new Error('boom in a route'), { route: '/x' });
    log.report(new RpcError('IOT_ERR_BAD_REQUEST', 'client fault'), { route: '/x' });
    log.report(new RpcError('IOT_ERR_UNAVAILABLE', 'store down'), { route: '/x' });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, route: '/x' });
    expect(lines[0]!.err!.stack).toContain('boom in a route');
  });

  it('logs at most 20 a minute whole, then how many it left out', async () => {
    vi.useFakeTimers();
    try {
      const { lines, log } = capture();
      for (let i = 0; i < 1000; i++) log.report(new Error(`bug ${i}`), {});
      vi.advanceTimersByTime(60_000);
      log.report(new Error('next minute'), {});
      await vi.runAllTimersAsync();
      expect(lines.filter((l) => l.msg === 'internal error')).toHaveLength(21);
      expect(lines.find((l) => l.suppressed !== undefined)?.suppressed).toBe(980);
    } finally {
      vi.useRealTimers();
    }
  });
});
