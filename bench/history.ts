// `tsx bench/history.ts [--since=<commit>] [scenario...]`: every paired round of every full run committed to
// `bench/results.json` (git history), and how well one model explains throughput from CPU.
//
// The model, throughput ratio = (k + 1) / (k + cpu ratio), is explained at `modelThroughput` in
// report.ts. k is fitted per scenario (least squares over the rounds). The output says what CPU
// ratio a throughput ratio of 0.95 needs under the fitted model. `pass-through (A/A)`, a second
// identical pass-through (runs that have it), shows how far identical processes spread.
import { execFileSync } from 'node:child_process';
import { median } from './load.js';
import { cpuRatioFor, fitModel, iqrText, modelThroughput as model, PASS_THROUGH_CONTROL } from './report.js';

interface Row {
  target: string;
  throughput: number;
  cpuMicrosPerRequest: number | null;
  paired?: {
    cpuVsPassThrough: number | null;
    throughputVsPassThrough: number;
    rounds?: {
      cpuVsPassThrough: number[] | null;
      throughputVsPassThrough: number[];
      mainThreadCpuVsPassThrough?: number[] | null;
    };
  };
}
interface Scenario {
  name: string;
  concurrency: number;
  rows: Row[];
}
interface Point {
  commit: string;
  target: string;
  cpu: number;
  throughput: number;
  /** Main-thread CPU ratio (runs that have it). */
  mainThread?: number;
  /** Index of the round in its run, when the run kept its rounds. */
  round?: number;
}

const git = (...args: string[]) =>
  execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
// `--since=<commit>`: only the runs committed after it (e.g. since a change to the hot path).
const since = process.argv.find((a) => a.startsWith('--since='))?.slice('--since='.length);
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--since='));
const points = new Map<string, Point[]>();

const range = since ? [`${since}..HEAD`] : [];
for (const commit of git('log', '--format=%h', ...range, '--', 'bench/results.json')
  .split('\n')
  .filter(Boolean)) {
  let scenarios: Scenario[];
  try {
    scenarios = JSON.parse(git('show', `${commit}:bench/results.json`)).summary.scenarios;
  } catch {
    continue;
  }
  for (const s of scenarios) {
    if (s.concurrency < 8 || (wanted.length > 0 && !wanted.includes(s.name))) continue;
    const passThrough = s.rows.find((r) => r.target === 'pass-through');
    for (const r of s.rows) {
      if (r.target === 'direct' || r.target === 'pass-through') continue;
      const add = (cpu: number, throughput: number, mainThread?: number, round?: number) => {
        const list = points.get(s.name) ?? [];
        list.push({
          commit,
          target: r.target,
          cpu,
          throughput,
          ...(mainThread === undefined ? {} : { mainThread }),
          ...(round === undefined ? {} : { round }),
        });
        points.set(s.name, list);
      };
      const rounds = r.paired?.rounds;
      if (rounds?.cpuVsPassThrough) {
        for (const [i, cpu] of rounds.cpuVsPassThrough.entries())
          add(cpu, rounds.throughputVsPassThrough[i]!, rounds.mainThreadCpuVsPassThrough?.[i], i);
      } else if (r.paired?.cpuVsPassThrough) {
        add(r.paired.cpuVsPassThrough, r.paired.throughputVsPassThrough);
      } else if (r.cpuMicrosPerRequest && passThrough?.cpuMicrosPerRequest) {
        // Runs from before paired ratios were kept: ratios of the medians.
        add(r.cpuMicrosPerRequest / passThrough.cpuMicrosPerRequest, r.throughput / passThrough.throughput);
      }
    }
  }
}

for (const [name, list] of points) {
  const { k, rms } = fitModel(list);
  const runs = new Set(list.map((p) => p.commit)).size;
  const needed = cpuRatioFor(k, 0.95);
  process.stdout.write(
    `\n${name}: ${list.length} rounds from ${runs} runs; fitted k = C/P(pass-through) = ${k.toFixed(2)}, rms error ${rms.toFixed(3)}\n` +
      `  throughput >= 0.95x the pass-through's needs CPU <= ${needed.toFixed(2)}x its own\n`,
  );
  for (const target of [...new Set(list.map((p) => p.target))]) {
    const mine = list.filter((p) => p.target === target);
    const cpu = median(mine.map((p) => p.cpu));
    const throughput = median(mine.map((p) => p.throughput));
    const mains = mine.flatMap((p) => (p.mainThread === undefined ? [] : [p.mainThread]));
    const mainText =
      mains.length > 0
        ? `  main thread ${median(mains).toFixed(2)}x over ${mains.length} of those rounds`
        : '';
    process.stdout.write(
      `  ${target.padEnd(18)} rounds ${String(mine.length).padStart(3)}  median CPU ${cpu.toFixed(2)}x  ` +
        `median throughput ${throughput.toFixed(2)}x (${iqrText(mine.map((p) => p.throughput))})  model at that CPU ${model(k, cpu).toFixed(2)}x${mainText}\n`,
    );
  }
  // The same rounds against the A/A control instead of the first pass-through: a second yardstick,
  // identical to the first, in the rounds of the runs that had one.
  const control = new Map(
    list
      .filter((p) => p.target === PASS_THROUGH_CONTROL && p.round !== undefined)
      .map((p) => [`${p.commit}#${p.round}`, p]),
  );
  if (control.size === 0) continue;
  process.stdout.write(`  against the A/A control (${control.size} rounds):\n`);
  for (const target of [...new Set(list.map((p) => p.target))]) {
    if (target === PASS_THROUGH_CONTROL) continue;
    const pairs = list.flatMap((p) => {
      const c =
        p.target === target && p.round !== undefined ? control.get(`${p.commit}#${p.round}`) : undefined;
      return c ? [{ cpu: p.cpu / c.cpu, throughput: p.throughput / c.throughput, commit: p.commit }] : [];
    });
    if (pairs.length === 0) continue;
    const perRun = [...new Set(pairs.map((p) => p.commit))].map((commit) =>
      median(pairs.filter((p) => p.commit === commit).map((p) => p.throughput)),
    );
    process.stdout.write(
      `    ${target.padEnd(16)} rounds ${String(pairs.length).padStart(3)}  median CPU ${median(pairs.map((p) => p.cpu)).toFixed(2)}x  ` +
        `median throughput ${median(pairs.map((p) => p.throughput)).toFixed(2)}x (${iqrText(pairs.map((p) => p.throughput))}); ` +
        `below 0.95x in ${perRun.filter((x) => x < 0.95).length} of ${perRun.length} runs\n`,
    );
  }
}
