import { describe, expect, it } from 'vitest';
import { runBulk } from '../../../src/bulk/bulk-run.js';
import { Withdrawal } from '../../../src/actors/withdrawal.js';
import { RpcError } from '../../../src/errors.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('runBulk', () => {
  it('keeps at most `concurrency` calls in flight, and yields every target once', async () => {
    let inFlight = 0;
    let most = 0;
    const targets = Array.from({ length: 25 }, (_, i) => ({ deviceId: `d${i}` }));
    const seen: string[] = [];
    for await (const result of runBulk(
      targets,
      async (deviceId) => {
        most = Math.max(most, ++inFlight);
        await sleep(Math.random() * 5);
        inFlight--;
        return { response: deviceId };
      },
      4,
    )) {
      seen.push(result.deviceId);
    }
    expect(most).toBe(4);
    expect(seen.sort()).toEqual(targets.map((t) => t.deviceId).sort());
  });

  it('refused targets are results without a call; an error becomes its status and code', async () => {
    const calls: string[] = [];
    const results = [];
    for await (const result of runBulk(
      [{ deviceId: 'a', refused: new RpcError('IOT_ERR_FORBIDDEN', 'no') }, { deviceId: 'b' }],
      async (deviceId) => {
        calls.push(deviceId);
        throw new RpcError('IOT_ERR_DEVICE_OFFLINE', deviceId);
      },
      10,
    )) {
      results.push(result);
    }
    expect(calls).toEqual(['b']);
    expect(results).toEqual([
      { deviceId: 'a', status: 403, error: { code: 'IOT_ERR_FORBIDDEN', message: expect.any(String) } },
      { deviceId: 'b', status: 504, error: { code: 'IOT_ERR_DEVICE_OFFLINE', message: expect.any(String) } },
    ]);
  });

  it('the caller leaving withdraws the calls in flight and starts no more', async () => {
    const leave = new Withdrawal();
    const started: string[] = [];
    const results = [];
    const targets = Array.from({ length: 10 }, (_, i) => ({ deviceId: `d${i}` }));
    setTimeout(() => leave.withdraw(), 20);
    for await (const result of runBulk(
      targets,
      (deviceId, withdrawal) => {
        started.push(deviceId);
        return new Promise((_, reject) => withdrawal.onWithdraw(() => reject(new RpcError('IOT_ERR_CALL_DELETED', deviceId))));
      },
      3,
      leave,
    )) {
      results.push(result);
    }
    expect(started).toEqual(['d0', 'd1', 'd2']);
    expect(results).toHaveLength(10);
    expect(results.every((r) => r.error?.code === 'IOT_ERR_CALL_DELETED')).toBe(true);
  });

  it('stopping the iteration early withdraws what still runs', async () => {
    const withdrawn: string[] = [];
    const targets = Array.from({ length: 5 }, (_, i) => ({ deviceId: `d${i}` }));
    for await (const result of runBulk(
      targets,
      (deviceId, withdrawal) =>
        deviceId === 'd0'
          ? Promise.resolve({ response: 'fast' })
          : new Promise((_, reject) => withdrawal.onWithdraw(() => {
              withdrawn.push(deviceId);
              reject(new RpcError('IOT_ERR_CALL_DELETED', deviceId));
            })),
      5,
    )) {
      expect(result.deviceId).toBe('d0');
      break;
    }
    expect(withdrawn.sort()).toEqual(['d1', 'd2', 'd3', 'd4']);
  });
});
