import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Row {
  figure: string;
  value: string | number;
  /** What the figure includes, so nobody reads more into it. */
  includes: string;
  target?: string;
  verdict?: string;
}

export interface ScenarioReport {
  scenario: string;
  settings: Record<string, unknown>;
  figures: Record<string, unknown>;
  rows: Row[];
  /** Why the scenario failed (fuzz: the server died, a call failed, RSS stayed up); written with the report, then the runner exits 1. */
  failures?: string[];
}

export function machine() {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

export function commit(): string {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${hash}-dirty` : hash;
  } catch {
    return 'unknown';
  }
}

/** Table cells hold no pipes or line breaks. */
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function markdown(report: ScenarioReport, meta: { date: string; commit: string; machine: ReturnType<typeof machine> }): string {
  const lines = [
    `## ${report.scenario} — ${meta.date}, commit ${meta.commit}`,
    '',
    `${meta.machine.cpuModel}, ${meta.machine.cores} cores, ${meta.machine.memoryGiB} GiB, Node ${meta.machine.node}`,
    '',
    `Settings: ${Object.entries(report.settings).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(', ')}`,
    '',
    '| figure | value | target | | includes |',
    '|---|---|---|---|---|',
    ...report.rows.map((r) => `| ${r.figure} | ${r.value} | ${r.target ?? ''} | ${r.verdict ?? ''} | ${cell(r.includes)} |`),
    '',
    ...(report.failures === undefined || report.failures.length === 0 ? [] : ['**Failed:**', '', ...report.failures.map((f) => `- ${f}`), '']),
  ];
  return lines.join('\n');
}

/** Writes `<scenario>-<date>-<commit>.json` and `.md` into `dir`; returns the JSON path. */
export function writeReport(dir: string, report: ScenarioReport): string {
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const meta = { date: new Date().toISOString(), commit: commit(), machine: machine() };
  const base = join(dir, `${report.scenario}-${date}-${meta.commit}`);
  writeFileSync(`${base}.json`, `${JSON.stringify({ ...report, ...meta }, null, 2)}\n`);
  const md = markdown(report, meta);
  writeFileSync(`${base}.md`, md);
  console.log(`\n${md}`);
  console.log(`written: ${base}.json, ${base}.md`);
  return `${base}.json`;
}
