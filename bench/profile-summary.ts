/**
 * Top functions of V8 CPU profiles (BENCH_CPU_PROF=<dir> npm run bench -- …):
 *   npx tsx bench/profile-summary.ts <dir> [name-filter] [top]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [dir, filter = '', topText = '25'] = process.argv.slice(2);
if (dir === undefined) {
  console.error('usage: npx tsx bench/profile-summary.ts <dir> [name-filter] [top]');
  process.exit(2);
}
const where = (url: string) => {
  const pkg = /node_modules\/(@[^/]+\/[^/]+|[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  const local = /\/((?:src|bench)\/.*)$/.exec(url);
  return local !== null ? local[1]! : url === '' ? '' : 'node';
};
const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.cpuprofile') && f.includes(filter));
for (const file of files) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  if (profile.samples.length < 100) continue; // a loader thread, not the program
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)!.callFrame;
    const place = where(frame.url) || frame.functionName;
    const key = `${frame.functionName || '(anonymous)'}  ${place}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    const dt = profile.timeDeltas[i] ?? 0;
    byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
    byPlace.set(place, (byPlace.get(place) ?? 0) + dt);
  });
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log('by package or file:');
  for (const [k, t] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${pct(t)}  ${k}`);
  console.log('top functions (self time):');
  for (const [k, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(topText))) console.log(`  ${pct(t)}  ${k}`);
}
