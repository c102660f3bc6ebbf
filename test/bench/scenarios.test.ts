import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// Every scenario at a tiny size, so a broken scenario fails CI. The real
// measurements stay out of the test suite (bench/README.md).
const root = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'iot-rpc-bench-test-'));
const run = promisify(execFile);
const TINY = ['--devices', '3', '--concurrency', '3', '--seconds', '1', '--warmup', '0.5', '--out', out];

interface Result {
  scenario: string;
  commit: string;
  machine: { cpuModel: string; cores: number; node: string };
  figures: Record<string, unknown>;
  rows: Array<{ figure: string; value: unknown; includes: string }>;
}

async function bench(scenario: string, extra: string[] = [], reportedAs = scenario, timeoutMs = 120_000): Promise<Result> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--expose-gc', 'bench/run.ts', scenario, ...TINY, ...extra], { cwd: root, timeout: timeoutMs });
  const written = /written: (\S+\.json)/.exec(stdout);
  expect(written, stdout).not.toBeNull();
  const result = JSON.parse(readFileSync(written![1]!, 'utf8')) as Result;
  expect(result.scenario).toBe(reportedAs);
  expect(result.machine.cores).toBeGreaterThan(0);
  expect(result.machine.node).toBe(process.version);
  expect(readFileSync(written![1]!.replace(/\.json$/, '.md'), 'utf8')).toContain(`## ${reportedAs}`);
  for (const row of result.rows) expect(row.includes.length, row.figure).toBeGreaterThan(0);
  return result;
}

type Load = { calls: number; failed: number; callsPerSecond: number; cpuMicrosPerCall: number; latencyMs: { p99: number } };

function expectCalls(load: unknown): void {
  const l = load as Load;
  expect(l.calls).toBeGreaterThan(0);
  expect(l.failed).toBe(0);
  expect(l.callsPerSecond).toBeGreaterThan(0);
  expect(l.cpuMicrosPerCall).toBeGreaterThan(0);
  expect(l.latencyMs.p99).toBeGreaterThan(0);
}

describe.concurrent('bench scenarios at a tiny size', () => {
  it('rpc-mqtt', { timeout: 120_000 }, async () => {
    expectCalls((await bench('rpc-mqtt')).figures['iot-rpc']);
  });

  it('transports, and rpc-mqtt with --transport coap', { timeout: 180_000 }, async () => {
    const result = await bench('transports');
    for (const transport of ['mqtt', 'coap', 'http']) expectCalls(result.figures[transport]);
    const coapOnly = await bench('rpc-mqtt', ['--transport', 'coap'], 'rpc-coap');
    expect(coapOnly.scenario).toBe('rpc-coap');
    expectCalls(coapOnly.figures['iot-rpc']);
  });

  it('recovery of persistent calls from Redis', { timeout: 120_000 }, async () => {
    const result = await bench('recovery', ['--calls', '200']);
    expect(result.figures).toMatchObject({ calls: 200, unfinishedAfter: 0 });
    expect(result.figures.fullSeconds).toBeGreaterThan(0);
    expect(result.figures.deliverSeconds).toBeGreaterThan(0);
  });

  it('rpc-cluster: calls entering node A for devices on node B, beside a single node', { timeout: 120_000 }, async () => {
    const result = await bench('rpc-cluster');
    expectCalls(result.figures.cluster);
    expectCalls(result.figures.singleNode);
    expect(result.figures.ownerCpuMicrosPerCall).toBeGreaterThan(0);
  });

  it('bulk: one bulk call to each size, beside rpc-mqtt on the same devices', { timeout: 120_000 }, async () => {
    const result = await bench('bulk', ['--sizes', '2,3']);
    expectCalls(result.figures.single);
    const steps = result.figures.steps as Array<{ devices: number; ok: number; failed: number; msToLastResult: number; cpuMicrosPerDevice: number }>;
    expect(steps.map((step) => [step.devices, step.ok, step.failed])).toEqual([
      [2, 2, 0],
      [3, 3, 0],
    ]);
    for (const step of steps) expect(step.msToLastResult).toBeGreaterThan(0);
  });

  it('rpc-rest', { timeout: 120_000 }, async () => {
    const result = await bench('rpc-rest');
    expectCalls(result.figures.rest);
    expect(result.figures.serverCpuMicrosPerCall).toBeGreaterThan(0);
  });

  it('limit, aedes and mosquitto', { timeout: 180_000 }, async () => {
    for (const system of ['limit', 'aedes', 'mosquitto']) expectCalls((await bench(system)).figures[system]);
  });

  it('fixed-rate', { timeout: 120_000 }, async () => {
    const result = await bench('fixed-rate', ['--rate', '50']);
    expect(result.figures.rate).toBe(50);
    expectCalls(result.figures.result);
    expect(result.rows.some((r) => r.figure === 'latency p99 ms')).toBe(true);
  });

  it('idle-devices', { timeout: 120_000 }, async () => {
    const result = await bench('idle-devices', ['--sizes', '5,8']);
    const steps = result.figures.steps as Array<{ devices: number; subscribed: number; heapBytesPerDevice: number; connectSeconds: number }>;
    expect(steps.map((s) => s.devices)).toEqual([5, 8]);
    for (const s of steps) {
      expect(s.subscribed).toBe(s.devices);
      expect(s.connectSeconds).toBeGreaterThan(0);
      expect(Number.isFinite(s.heapBytesPerDevice)).toBe(true);
    }
  });

  it('compare, then the report draws it', { timeout: 240_000 }, async () => {
    const result = await bench('compare', ['--rounds', '1', '--rate', '200']);
    const medians = result.figures.medians as Record<string, { callsPerSecond: number }>;
    expect(Object.keys(medians).sort()).toEqual(['aedes', 'iot-rpc', 'limit', 'mosquitto']);
    const fixed = result.figures.fixedRate as { rate: number; medians: Record<string, { callsPerSecond: number; cpuMicrosPerCall: number; failed: number }> };
    expect(fixed.rate).toBe(200);
    expect(Object.keys(fixed.medians).sort()).toEqual(['aedes', 'iot-rpc', 'limit', 'mosquitto']);
    for (const [name, m] of Object.entries(fixed.medians)) {
      expect(m.callsPerSecond, name).toBeGreaterThan(100);
      expect(m.cpuMicrosPerCall, name).toBeGreaterThan(0);
      expect(m.failed, name).toBe(0);
    }
    const ratios = result.figures.ratios as Record<string, number>;
    expect(ratios.aedes).toBeCloseTo(medians['iot-rpc']!.callsPerSecond / medians.aedes!.callsPerSecond, 1);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/report.ts', out], { cwd: root });
    expect(stdout).toContain('report.svg');
    const svg = readFileSync(join(out, 'report.svg'), 'utf8');
    expect(svg).toContain('compare: iot-rpc');
    expect(svg).toContain('compare: aedes');
    expect(readdirSync(out).filter((f) => f.endsWith('.json')).length).toBeGreaterThan(0);
  });

  it('fuzz: each protocol for a few hundred inputs; the server stays up, still calls, and its RSS comes back down', { timeout: 300_000 }, async () => {
    const result = await bench('fuzz', ['--protocol', 'all', '--count', '300', '--seed', '12345', '--max-seconds', '60'], 'fuzz', 280_000);
    expect(result.figures.seed).toBe(12345);
    type Run = {
      protocol: string;
      stats: { inputs: number; inputsPerSecond: number; sessions: number; answers: Record<string, number>; outcomes: Record<string, number> };
      serverExit?: string;
      echoCall: string;
      freshDeviceCall: string;
      rss: { beforeBytes: number; peakBytes: number; afterBytes: number; withinBound: boolean };
      failures: string[];
    };
    const runs = result.figures.runs as Run[];
    expect(runs.map((r) => r.protocol)).toEqual(['mqtt', 'coap', 'http', 'ws']);
    for (const r of runs) {
      expect(r.stats.inputs, r.protocol).toBeGreaterThan(100);
      expect(r.stats.inputsPerSecond, r.protocol).toBeGreaterThan(0);
      expect(Object.keys(r.stats.answers).length, r.protocol).toBeGreaterThan(0);
      expect(r.stats.outcomes.refused, r.protocol).toBe(0);
      expect(r.serverExit, r.protocol).toBeUndefined();
      expect(r.echoCall, r.protocol).toBe('ok');
      expect(r.freshDeviceCall, r.protocol).toBe('ok');
      expect(r.rss.peakBytes, r.protocol).toBeGreaterThanOrEqual(r.rss.beforeBytes);
      expect(r.rss.withinBound, r.protocol).toBe(true);
      expect(r.failures, r.protocol).toEqual([]);
    }
  });

  it('soak: mixed traffic and churn against one server, sampled, with slopes', { timeout: 180_000 }, async () => {
    const result = await bench('soak', ['--minutes', '0.2', '--rate', '100'], 'soak', 170_000);
    const samples = result.figures.samples as Array<{ t: number; rssMiB: number; heapMiB: number; callsPerSecond: number; p99Ms: number }>;
    expect(samples.length).toBeGreaterThanOrEqual(4);
    for (const sample of samples) {
      expect(sample.rssMiB).toBeGreaterThan(0);
      expect(sample.heapMiB).toBeGreaterThan(0);
      expect(sample.callsPerSecond).toBeGreaterThan(0);
    }
    const slopes = result.figures.slopes as Record<string, number>;
    for (const name of ['rssMiBPerHour', 'heapMiBPerHour', 'p99MsPerHour', 'restP99MsPerHour']) expect(Number.isFinite(slopes[name]), name).toBe(true);
    const totals = result.figures.totals as { libraryCalls: number; restCalls: number; failedCalls: number; persistentStatuses: Record<string, number>; churn: { cycled: number } };
    expect(totals.libraryCalls).toBeGreaterThan(0);
    expect(totals.restCalls).toBeGreaterThan(0);
    expect(totals.failedCalls).toBe(0);
    expect(totals.persistentStatuses.SUCCESSFUL).toBeGreaterThan(0);
    expect(totals.churn.cycled).toBeGreaterThan(0);
    expect(result.figures.serverExit).toBeUndefined();
  });

  it('an unknown scenario or a bad option is refused with the usage', async () => {
    await expect(run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'nope'], { cwd: root })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('unknown scenario "nope"') });
    await expect(run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'rpc-mqtt', '--devices', 'many'], { cwd: root })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--devices must be a positive number') });
    await expect(run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'fuzz', '--protocol', 'smtp'], { cwd: root })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--protocol must be one of mqtt, coap, http, ws or all') });
    await expect(run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'fuzz', '--seed', '1.5'], { cwd: root })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--seed must be a whole number') });
  });
});
