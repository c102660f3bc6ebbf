import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, RpcError, type ErrorCode } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('error table', () => {
  it.each(Object.keys(ERRORS) as ErrorCode[])('%s is documented in docs/errors.md with its statuses', (code) => {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    const cells = row!.split('|').map((c) => c.trim());
    const definition = ERRORS[code];
    expect(Number(cells[2])).toBe(definition.status);
    expect(Number(cells[3])).toBe(definition.legacyStatus);
    expect(cells[4]).toBe(definition.coap);
    expect(Number(cells[5])).toBe(definition.errorCode);
    expect(cells[7]!.length).toBeGreaterThan(10);
  });

  it('documents no code the table lacks', () => {
    const documented = [...doc.matchAll(/^\| `(IOT_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('an RpcError body follows SPEC.md and the legacy status where asked', () => {
    const error = new RpcError('IOT_ERR_NO_REPLY_SENT', 'dev-1');
    expect(error.toBody()).toMatchObject({ status: 504, code: 'IOT_ERR_NO_REPLY_SENT', errorCode: 2, message: expect.stringContaining('dev-1') });
    expect(error.toBody(true).status).toBe(408);
  });
});
