import { describe, expect, it } from 'vitest';
import { EventLoopLag } from '../../../src/scheduling/event-loop-lag.js';

const blockFor = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until);
};

describe('EventLoopLag', () => {
  it('reads how long the loop was blocked, and forgets it once the loop runs freely again', async () => {
    const lag = new EventLoopLag();
    lag.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(lag.ms).toBeLessThan(100);
      blockFor(400);
      // The sample due during the block runs first, then this.
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(lag.ms).toBeGreaterThan(250);
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(lag.ms).toBeLessThan(100);
    } finally {
      lag.stop();
    }
  });
});
