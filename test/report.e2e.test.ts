// Integration: passive agent traffic through the proxy plus a bisect probe
// against a fixture that sweeps expired sessions every 2 s with a 2 s idle timeout.
// Expiry happens anywhere in (2 s, 4 s], so survivals and expiries may overlap; the
// estimate must still land inside (1, 5] on the idle basis and the pool TTL at or below 2 s.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../src/analysis/index.js';
import { startProbeRun } from '../src/probe/run.js';
import { initializeSession, postJsonRpc, toolsListMessage, upstreamPool } from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const run = promisify(execFile);
const upstreams = upstreamPool();
let proxy: TestProxy | null = null;
afterEach(async () => {
  await proxy?.cleanup();
  proxy = null;
  await upstreams.closeAll();
});

/** An agent on one session: calls `tools/list` after each of the given idle gaps; returns the HTTP statuses. */
async function agent(url: string, token: string, gapsMs: number[]): Promise<number[]> {
  const headers = { authorization: `Bearer ${token}` };
  const { sessionId } = await initializeSession(url, { headers });
  const statuses: number[] = [];
  let id = 10;
  for (const gap of gapsMs) {
    await sleep(gap);
    statuses.push((await postJsonRpc(url, toolsListMessage(id++), { sessionId, headers })).status);
  }
  return statuses;
}

describe('report: passive traffic plus a bisect probe against a 2 s sweeper', () => {
  it('yields a window inside (1, 5] with basis idle and a pool TTL of at most 2 s, over the API and the CLI', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 2000, sweepIntervalMs: 2000 });
    proxy = await startTestProxy([upstreamConfig('sweeper', upstream.url)]);
    const url = proxy.mcpUrl('sweeper');

    const probe = startProbeRun({
      upstreams: [{ id: 'sweeper', url: upstream.url, headers: {}, timeoutSeconds: 5 }],
      mode: 'bisect',
      intervalsSeconds: [1, 3, 5],
      bisect: { budget: 3, minWindowSeconds: 0.5 },
      record: proxy.recorder.record,
      store: proxy.store,
    });
    const [alice, bob, result] = await Promise.all([
      // Busy for 6 s (old session, short gaps: rules out an age explanation), then idle 4.5 s:
      // past timeout + sweep period, so certainly expired.
      agent(url, 'alice-token', [...Array(12).fill(500), 4500]),
      agent(url, 'bob-token', [300, 1000, 1000]),
      probe.done,
    ]);
    expect(result.status).toBe('done');
    expect(alice.slice(0, 12)).toEqual(Array(12).fill(200));
    expect(alice[12]).toBe(404);
    expect(bob).toEqual([200, 200, 200]);
    await proxy.flush();

    const lifetime = (await (await fetch(`${proxy.url}/api/upstreams/sweeper/lifetime`)).json()) as Record<
      string,
      unknown
    > &
      Report['upstreams'][number]['lifetime'];
    expect(lifetime.upstream).toBe('sweeper');
    expect(lifetime.basis).toBe('idle');
    expect(lifetime.lowerBoundSeconds).toBeGreaterThanOrEqual(1);
    expect(lifetime.upperBoundSeconds).toBeLessThanOrEqual(5);
    expect(lifetime.lowerBoundSeconds!).toBeLessThan(lifetime.upperBoundSeconds!);
    expect(lifetime.stateless).toBe(false);
    // 16 tools/list plus each session's notifications/initialized (a request on a known session too).
    expect(lifetime.observations.proxy).toBe(18);
    expect(lifetime.observations.probe).toBeGreaterThanOrEqual(4);
    expect(lifetime.expirations).toBeGreaterThanOrEqual(2);
    expect(lifetime.initLatencySeconds.n).toBeGreaterThanOrEqual(2 + 4);
    expect(lifetime.initLatencySeconds.p50).toBeGreaterThan(0);

    const report = (await (await fetch(`${proxy.url}/api/report`)).json()) as Report;
    const entry = report.upstreams.find((u) => u.id === 'sweeper')!;
    expect(entry.lifetime).toEqual(
      Object.fromEntries(Object.entries(lifetime).filter(([k]) => k !== 'upstream')),
    );
    const rec = entry.recommendation;
    expect(rec.workload).toMatchObject({ source: 'observed', calls: 16, callers: 2 });
    const pool = rec.strategies.find((s) => s.strategy === 'pool')!;
    expect(pool.idleTtlSeconds).toBeGreaterThan(0);
    expect(pool.idleTtlSeconds).toBeLessThanOrEqual(2);
    expect(pool.idleTtlSeconds).toBeLessThanOrEqual(lifetime.lowerBoundSeconds!);
    // Alice's 4.5 s gap is above any lower bound, so per-turn reuse risks a failure and the safe pool wins.
    expect(rec.expectedStaleFailuresPer100Calls['per-turn']).toBeGreaterThan(0);
    expect(rec).toMatchObject({
      strategy: 'pool',
      poolIdleTtlSeconds: pool.idleTtlSeconds,
      keepaliveIntervalSeconds: null,
    });
    expect(rec.reason.length).toBeGreaterThan(20);
    // per-call opens a session for each of the 16 calls.
    expect(rec.expectedInitSecondsPer100Calls['per-call']).toBeCloseTo(100 * rec.initCostSeconds!, 1);

    expect((await fetch(`${proxy.url}/api/upstreams/nope/lifetime`)).status).toBe(404);

    // The CLI reads the same store file.
    const bin = new URL('../bin/mcp-session-probe.js', import.meta.url).pathname;
    const cli = (...args: string[]) => run(process.execPath, [bin, 'report', '--db', proxy!.dbPath, ...args]);
    // Three CLI processes at once: each pays the TypeScript loader's start-up.
    const [json, text, unknown] = await Promise.all([
      cli('--json', '--upstream', 'sweeper'),
      cli(),
      cli('--upstream', 'nope').then(
        () => null,
        (err: { code: number; stderr: string }) => err,
      ),
    ]);
    const fromCli = JSON.parse(json.stdout) as Report;
    expect(fromCli.upstreams.map((u) => u.id)).toEqual(['sweeper']);
    expect(fromCli.upstreams[0]!.lifetime).toEqual(entry.lifetime);
    expect(text.stdout).toMatch(/^upstream\s+basis\s+window s/);
    expect(text.stdout).toContain(`sweeper: ${rec.strategy}: ${rec.reason}`);
    expect(unknown).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--upstream "nope" is not in the store; known: sweeper'),
    });
  }, 60_000);
});
