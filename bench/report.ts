/**
 * npm run bench:report [-- <results dir>]: draws the newest result of each
 * scenario as an SVG chart (throughput, then latency p50/p99) next to the
 * results, so a person can look rather than read.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Latency {
  p50: number;
  p99: number;
}
interface Bar {
  label: string;
  callsPerSecond: number;
  latency: Latency;
}
interface ResultFile {
  scenario: string;
  date: string;
  commit: string;
  figures: Record<string, unknown>;
}

const dir = process.argv[2] ?? fileURLToPath(new URL('./results', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const newest = new Map<string, ResultFile>();
for (const file of files) {
  const result = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ResultFile;
  const known = newest.get(result.scenario);
  if (known === undefined || known.date < result.date) newest.set(result.scenario, result);
}

const asLoad = (value: unknown): { callsPerSecond: number; latencyMs: Latency } | undefined => {
  const v = value as { callsPerSecond?: number; latencyMs?: Latency } | undefined;
  return v?.callsPerSecond !== undefined && v.latencyMs !== undefined ? (v as { callsPerSecond: number; latencyMs: Latency }) : undefined;
};

const bars: Bar[] = [];
for (const [scenario, result] of [...newest].sort()) {
  if (scenario === 'compare') {
    const medians = result.figures.medians as Record<string, { callsPerSecond: number; p50: number; p99: number }>;
    for (const [system, m] of Object.entries(medians)) bars.push({ label: `compare: ${system}`, callsPerSecond: m.callsPerSecond, latency: { p50: m.p50, p99: m.p99 } });
    continue;
  }
  for (const [name, value] of Object.entries(result.figures)) {
    const load = asLoad(value);
    if (load !== undefined) bars.push({ label: `${scenario}${name === scenario ? '' : `: ${name}`}`, callsPerSecond: load.callsPerSecond, latency: load.latencyMs });
  }
}
if (bars.length === 0) {
  console.error(`bench:report: no throughput results in ${dir}; run npm run bench -- <scenario> first`);
  process.exit(1);
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const LABEL = 230;
const WIDTH = 900;
const ROW = 26;
const plot = WIDTH - LABEL - 90;
const maxCalls = Math.max(...bars.map((b) => b.callsPerSecond));
const maxLatency = Math.max(...bars.map((b) => b.latency.p99));
const panelHeight = bars.length * ROW + 40;
const parts: string[] = [];
const panel = (top: number, title: string, draw: (bar: Bar, y: number) => string) => {
  parts.push(`<text x="10" y="${top + 20}" font-size="15" font-weight="bold">${escape(title)}</text>`);
  bars.forEach((bar, i) => {
    const y = top + 32 + i * ROW;
    parts.push(`<text x="${LABEL - 8}" y="${y + 15}" font-size="12" text-anchor="end">${escape(bar.label)}</text>`);
    parts.push(draw(bar, y));
  });
};
panel(0, 'Two-way calls per second (higher is better)', (bar, y) => {
  const w = Math.max(1, (bar.callsPerSecond / maxCalls) * plot);
  return `<rect x="${LABEL}" y="${y}" width="${w.toFixed(1)}" height="18" fill="#3b7dd8"/><text x="${(LABEL + w + 6).toFixed(1)}" y="${y + 14}" font-size="12">${bar.callsPerSecond.toLocaleString('en')}</text>`;
});
panel(panelHeight, 'Latency ms: p50 (dark) and p99 (light), lower is better', (bar, y) => {
  const w99 = Math.max(1, (bar.latency.p99 / maxLatency) * plot);
  const w50 = Math.max(1, (bar.latency.p50 / maxLatency) * plot);
  return `<rect x="${LABEL}" y="${y}" width="${w99.toFixed(1)}" height="18" fill="#f2a65a"/><rect x="${LABEL}" y="${y + 4}" width="${w50.toFixed(1)}" height="10" fill="#b3541e"/><text x="${(LABEL + w99 + 6).toFixed(1)}" y="${y + 14}" font-size="12">${bar.latency.p50} / ${bar.latency.p99}</text>`;
});
const height = panelHeight * 2 + 10;
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
const out = join(dir, 'report.svg');
writeFileSync(out, svg);
console.log(`written: ${out} (${bars.length} bars from ${newest.size} scenarios)`);
