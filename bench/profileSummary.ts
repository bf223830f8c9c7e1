// `tsx bench/profileSummary.ts FILE.cpuprofile [N]`: the functions with the most
// self time in a `node --cpu-prof` profile (as written by `npm run bench -- --profile`),
// plus the same grouped by file, so that "where did the time go" has an answer.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: tsx bench/profileSummary.ts FILE.cpuprofile [N]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfMicros = new Map<number, number>();
// Waiting is not cost: percentages are of the time the process was busy.
const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  if (idle.has(id)) continue;
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...selfMicros.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of selfMicros) {
  const n = byId.get(id)!;
  const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '~/');
  const where = url ? `${url.replace(process.cwd() + '/', '')}:${n.callFrame.lineNumber + 1}` : '(native)';
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${where}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  const group = url
    ? url.replace(process.cwd() + '/', '').replace(/^(~\/(@[^/]+\/)?[^/]+).*/, '$1')
    : n.callFrame.functionName;
  byFile.set(group, (byFile.get(group) ?? 0) + us);
}
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title} (total ${(total / 1000).toFixed(0)} ms busy)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  }
};
// Inclusive time per source file of this project and per package: a sample counts once for
// every file or package on its stack (what "the store" or "telemetry" costs, callees included).
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
for (const [id, us] of selfMicros) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const url = byId.get(cur)!.callFrame.url.replace(/^file:\/\//, '');
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    const key = m ? `~/${m[1]}` : url.startsWith(process.cwd()) ? url.slice(process.cwd().length + 1) : null;
    if (key && !seen.has(key)) {
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
}
print('self time by function', byFunction);
print('self time by file or package', byFile);
print('inclusive time by project file or package', inclusive);
