import { readFileSync } from 'node:fs';
import { McpLoadClient, median } from '../bench/load.ts';
import { cpuSampleOf, startChild, useCompiledChildren } from '../bench/processes.ts';
useCompiledChildren(process.env.BUILD ?? null);
const N = Number(process.env.N ?? 4), ROUNDS = Number(process.env.ROUNDS ?? 16), MS = Number(process.env.MS ?? 500);
const raw = await startChild('raw', './rawUpstream.ts');
const pairs = [`raw=http://127.0.0.1:${raw.ready.port}/mcp`];
const pts = [];
for (let i = 0; i < N; i++) {
  const c = await startChild(`pt${i}`, './passThrough.ts', pairs);
  const client = new McpLoadClient(`http://127.0.0.1:${c.ready.port}`, '/mcp/raw');
  client.sessions = await client.openSessions(8);
  pts.push({ c, client, cpu: [] as number[], thr: [] as number[] });
}
function sched(pid: number) {
  const t = readFileSync(`/proc/${pid}/task/${pid}/sched`, 'utf8');
  const g = (k: string) => Number(new RegExp(`${k}\\s*:\\s*([\\d.]+)`).exec(t)?.[1]);
  return { mig: g('se.nr_migrations'), inv: g('nr_involuntary_switches'), vol: g('nr_voluntary_switches') };
}
for (const p of pts) await p.client.run('ping', 16, 1000);
const s0 = pts.map((p) => sched(p.c.pid));
let total = pts.map(() => 0);
for (let r = 0; r < ROUNDS; r++) {
  const order = pts.map((_, i) => pts[(i + r) % N]!);
  for (const p of order) {
    const a = cpuSampleOf(p.c.pid, false)!;
    const res = await p.client.run('ping', 16, MS);
    const b = cpuSampleOf(p.c.pid, false)!;
    p.cpu.push((b.total - a.total) / res.requests);
    p.thr.push(res.requests / res.seconds);
    total[pts.indexOf(p)] += res.requests;
  }
}
const s1 = pts.map((p) => sched(p.c.pid));
pts.forEach((p, i) => {
  const above = p.cpu.filter((x, r) => x > median(pts.map((q) => q.cpu[r]!))).length;
  console.log(`pt${i}: cpu/req median ${median(p.cpu).toFixed(1)} thr ${median(p.thr).toFixed(0)} rounds above the round's median ${above}/${ROUNDS}; per req: migrations ${((s1[i]!.mig - s0[i]!.mig) / total[i]!).toFixed(3)} invol ${((s1[i]!.inv - s0[i]!.inv) / total[i]!).toFixed(3)} vol ${((s1[i]!.vol - s0[i]!.vol) / total[i]!).toFixed(3)}`);
});
const lr = pts[1]!.thr.map((x, r) => Math.log(x / pts[0]!.thr[r]!)); const m = lr.reduce((a, b) => a + b, 0) / lr.length; console.log(`MS ${MS} rounds ${ROUNDS}: SD of log thr ratio per round ${Math.sqrt(lr.reduce((a, b) => a + (b - m) ** 2, 0) / (lr.length - 1)).toFixed(3)}, median ratio ${Math.exp(median(lr)).toFixed(3)}`);
if (0) console.log('thr ratio pt1/pt0 by round:', pts[1]!.thr.map((x, r) => (x / pts[0]!.thr[r]!).toFixed(2)).join(' '));
if (0) console.log('cpu ratio pt1/pt0 by round:', pts[1]!.cpu.map((x, r) => (x / pts[0]!.cpu[r]!).toFixed(2)).join(' '));
for (const p of pts) { await p.client.close(); await p.c.close(); }
await raw.close();
