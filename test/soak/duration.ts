// `npm run soak:duration`: a long run at moderate load, for the memory trend of a `serve`
// process (docs/decisions/0023-soak-figures.md).
//
// Runs the real CLI in child processes, one per variant (by default one as shipped and one
// with MALLOC_ARENA_MAX=1, to tell heap growth from malloc fragmentation), and drives the same
// load through each: agents that open a session, call tools at a steady rate, then end it
// (DELETE) or abandon it; and every 30 s the admin reads (/api/report, /api/sessions). RSS
// and open fds are sampled from /proc, the tracked sessions and recorder queue from /healthz.
// At the end it prints, per variant, RSS at points in time and the least-squares slope of RSS
// after warm-up, and writes every sample as JSON lines to --out.
//
// Options: --minutes 30 --rate 100 (requests/s per variant) --agents 16 --warmup 5 (minutes)
//          --variants default,arena1 --out soak-duration.jsonl
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startDemoUpstream } from '../../src/demo/upstream.js';
import { type ServeProcess, startServe, writeConfig } from '../helpers/cli.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '100' },
    agents: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '5' },
    variants: { type: 'string', default: 'default,arena1' },
    out: { type: 'string', default: 'soak-duration.jsonl' },
  },
});
const MINUTES = Number(values.minutes);
const RATE = Number(values.rate);
const AGENTS = Number(values.agents);
const WARMUP_MIN = Number(values.warmup);
const VARIANTS: Record<string, NodeJS.ProcessEnv> = {
  default: {},
  arena1: { MALLOC_ARENA_MAX: '1' },
  arena2: { MALLOC_ARENA_MAX: '2' },
};

interface Sample {
  variant: string;
  minute: number;
  /** The serve process and its store process together. */
  rssMb: number;
  /** The store process alone (0 when the store runs in the serve process). */
  storeRssMb: number;
  fds: number;
  tracked: number | null;
  queued: number | null;
  sent: number;
  errors: number;
}

const dispatcher = new Agent({ connections: AGENTS * 4, keepAliveTimeout: 10_000 });

async function post(url: string, body: string, sessionId?: string) {
  const res = await request(url, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
    },
    body,
  });
  await res.body.text();
  return { status: res.statusCode, sessionId: res.headers['mcp-session-id'] as string | undefined };
}

/** One agent: sessions of 5-40 calls, ended by DELETE half of the time and abandoned otherwise. */
async function agent(mcp: string, until: number, counters: { sent: number; errors: number }, n: number) {
  const gapMs = (AGENTS / RATE) * 1000;
  let s = 0;
  while (Date.now() < until) {
    s++;
    try {
      const init = await post(
        mcp,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'soak', version: '1' },
          },
        }),
      );
      counters.sent++;
      const sid = init.sessionId;
      await post(mcp, '{"jsonrpc":"2.0","method":"notifications/initialized"}', sid);
      counters.sent++;
      const calls = 5 + ((n * 7 + s * 13) % 36);
      for (let c = 1; c <= calls && Date.now() < until; c++) {
        await sleep(gapMs);
        const r = await post(
          mcp,
          JSON.stringify({
            jsonrpc: '2.0',
            id: c,
            method: 'tools/call',
            params: { name: 'echo', arguments: { text: `a${n}s${s}c${c}` } },
          }),
          sid,
        );
        counters.sent++;
        if (r.status !== 200) counters.errors++;
      }
      if (s % 2 === 0 && sid) {
        const res = await request(mcp, { method: 'DELETE', dispatcher, headers: { 'mcp-session-id': sid } });
        await res.body.text();
        counters.sent++;
      }
    } catch {
      counters.errors++;
      await sleep(100);
    }
  }
}

async function healthz(url: string): Promise<{ tracked: number | null; queued: number | null }> {
  try {
    const res = await request(`${url}/healthz`, { dispatcher });
    const body = (await res.body.json()) as { trackedSessions?: number; recorder?: { queued?: number } };
    return { tracked: body.trackedSessions ?? null, queued: body.recorder?.queued ?? null };
  } catch {
    return { tracked: null, queued: null };
  }
}

async function adminReads(url: string): Promise<void> {
  for (const path of ['/api/report', '/api/sessions?limit=100']) {
    try {
      const res = await request(`${url}${path}`, { dispatcher });
      await res.body.text();
    } catch {
      // A failed admin read is not what this run measures.
    }
  }
}

function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The serve process's children (its store process). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function runVariant(
  name: string,
  serve: ServeProcess,
  start: number,
  until: number,
): Promise<Sample[]> {
  const pid = serve.child.pid!;
  const counters = { sent: 0, errors: 0 };
  const samples: Sample[] = [];
  const mcp = `${serve.url}/mcp/demo`;
  const load = Promise.all(Array.from({ length: AGENTS }, (_, n) => agent(mcp, until, counters, n)));
  let lastAdmin = 0;
  while (Date.now() < until) {
    const storeRssMb = childPids(pid).reduce((sum, child) => sum + rssOf(child), 0);
    const rssMb = rssOf(pid) + storeRssMb;
    const health = await healthz(serve.url);
    const sample: Sample = {
      variant: name,
      minute: (Date.now() - start) / 60_000,
      rssMb,
      storeRssMb,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      ...health,
      sent: counters.sent,
      errors: counters.errors,
    };
    samples.push(sample);
    appendFileSync(values.out!, `${JSON.stringify(sample)}\n`);
    if (Date.now() - lastAdmin >= 30_000) {
      lastAdmin = Date.now();
      await adminReads(serve.url);
    }
    await sleep(10_000);
  }
  await load;
  return samples;
}

function summarize(name: string, samples: Sample[]): string {
  const after = samples.filter((s) => s.minute >= WARMUP_MIN);
  const perTenMin = slope(after.map((s) => [s.minute, s.rssMb])) * 10;
  const at = (m: number) =>
    samples.reduce((best, s) => (Math.abs(s.minute - m) < Math.abs(best.minute - m) ? s : best));
  const points = [1, WARMUP_MIN, MINUTES / 2, MINUTES].map((m) => {
    const s = at(m);
    return `${s.minute.toFixed(1)} min ${s.rssMb.toFixed(1)} MB (store process ${s.storeRssMb.toFixed(1)})`;
  });
  const last = samples.at(-1)!;
  const maxTracked = Math.max(...samples.map((s) => s.tracked ?? 0));
  return (
    `${name}: RSS ${points.join(', ')}; slope after ${WARMUP_MIN} min ${perTenMin >= 0 ? '+' : ''}${perTenMin.toFixed(2)} MB/10 min; ` +
    `fds ${samples[0]!.fds} → ${last.fds}; tracked sessions max ${maxTracked}; ` +
    `${last.sent} requests, ${last.errors} errors`
  );
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-soak-duration-'));
  writeFileSync(values.out!, '');
  const demo = await startDemoUpstream({ responseMode: 'json' });
  const names = values.variants!.split(',').filter((v) => v in VARIANTS);
  const serves: Array<{ name: string; serve: ServeProcess }> = [];
  try {
    for (const name of names) {
      const config = writeConfig(
        dir,
        {
          upstreams: [{ id: 'demo', url: demo.url }],
          server: { host: '127.0.0.1', port: 0 },
          storage: { url: `sqlite:${join(dir, `${name}.db`)}` },
        },
        `${name}.json`,
      );
      serves.push({ name, serve: await startServe(config, { env: VARIANTS[name] }) });
    }
    const start = Date.now();
    const until = start + MINUTES * 60_000;
    const results = await Promise.all(serves.map(({ name, serve }) => runVariant(name, serve, start, until)));
    for (const [i, { name }] of serves.entries()) process.stdout.write(`${summarize(name, results[i]!)}\n`);
    for (const { serve } of serves) serve.child.kill('SIGTERM');
    const codes = await Promise.all(serves.map(({ serve }) => serve.exited));
    process.stdout.write(`exit codes after SIGTERM: ${codes.join(', ')}\n`);
    return 0;
  } finally {
    for (const { serve } of serves) serve.child.kill('SIGKILL');
    await demo.close();
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
