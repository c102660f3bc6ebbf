import { describe, expect, it } from 'vitest';
import { ExchangeCache } from '../../../../src/transports/coap/exchange-cache.js';

describe('ExchangeCache', () => {
  it('a repeat within the lifetime is the earlier exchange, with its answer; past it, new', () => {
    const cache = new ExchangeCache();
    expect(cache.begin('ep', 1, 1000, 0)).toBeUndefined();
    cache.answered('ep', 1, Buffer.from('answer'));
    expect(cache.begin('ep', 1, 1000, 500)?.response?.toString()).toBe('answer');
    expect(cache.begin('ep', 1, 1000, 1000)).toBeUndefined();
  });

  it('one peer sending fresh message ids cannot make it hold more than its byte bound: the oldest go', () => {
    const cache = new ExchangeCache(1_000_000, 1024 * 1024);
    const answer = Buffer.alloc(1000);
    for (let id = 0; id < 20_000; id++) {
      cache.begin('flooder', id & 0xffff, 247_000, 0);
      cache.answered('flooder', id & 0xffff, answer);
    }
    expect(cache.bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(cache.size).toBeLessThan(1000);
    // The newest is still there.
    expect(cache.begin('flooder', 19_999, 247_000, 1)?.response).toBe(answer);
  });

  it('bounded by entries too', () => {
    const cache = new ExchangeCache(100);
    for (let id = 0; id < 1000; id++) cache.begin('ep', id, 247_000, 0);
    expect(cache.size).toBe(100);
  });
});
