// The active probe against real fixture upstreams on loopback (docs/design.md "Active mode",
// the acceptance numbers). Most cases are scaled down 10x (idle timeout 300 ms instead of
// 3 s) and say so in their names; one runs the exact acceptance numbers.
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeMode } from '../src/config/schema.js';
import type { DemoUpstreamOptions } from '../src/demo/upstream.js';
import { READ_ONLY_METHODS } from '../src/probe/readOnly.js';
import type { Checkpoint, ProbeResult, UpstreamProbeResult } from '../src/probe/result.js';
import { type ProbeRunOptions, startProbeRun } from '../src/probe/run.js';
import type { ExchangeRecord, Observation } from '../src/sessions/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { startMinimalUpstream } from './fixtures/minimalUpstream.js';
import { upstreamPool } from './fixtures/upstreams.js';
import { REFUSED_PORT } from './helpers/proxy.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
  await upstreams.closeAll();
});

async function probe(
  upstreamOptions: DemoUpstreamOptions,
  run: Omit<ProbeRunOptions, 'upstreams' | 'record'>,
  pool: ReturnType<typeof upstreamPool> = upstreams,
): Promise<{
  result: ProbeResult;
  only: UpstreamProbeResult;
  observations: Observation[];
  methods: string[];
}> {
  const methods: string[] = [];
  const upstream = await pool.start({ ...upstreamOptions, onMethod: (m) => methods.push(m) });
  const observations: Observation[] = [];
  const r = startProbeRun({
    upstreams: [{ id: 'fixture', url: upstream.url, headers: {}, timeoutSeconds: 5 }],
    record: (o) => observations.push(o),
    ...run,
  });
  const result = await r.done;
  return { result, only: result.results[0]!, observations, methods };
}

async function waitForValue(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const gaps = (u: UpstreamProbeResult) =>
  u.checkpoints.map((c) => [c.idleSecondsTarget, c.success, c.errorType] as const);

describe('probe modes against an idle timeout', () => {
  it('exact acceptance numbers: idle 3 s, fanout 1,2,5 → 1 and 2 survive, 5 session_expired; bisect → window ≤ 1 s containing 3 s; ladder 1,3 → ~2 s since the last call', async () => {
    const [fan, lad, bis] = await Promise.all([
      probe({ idleTimeoutMs: 3000 }, { mode: 'fanout', intervalsSeconds: [1, 2, 5] }),
      probe({ idleTimeoutMs: 3000 }, { mode: 'ladder', intervalsSeconds: [1, 3] }),
      probe({ idleTimeoutMs: 3000 }, { mode: 'bisect', intervalsSeconds: [1, 2, 5] }),
    ]);
    const w = bis.only.window!;
    expect(w.lowerSeconds!).toBeLessThan(3);
    expect(w.upperSeconds!).toBeGreaterThanOrEqual(3);
    expect(w.upperSeconds! - w.lowerSeconds!).toBeLessThanOrEqual(1);
    expect(fan.result.status).toBe('done');
    expect(gaps(fan.only).sort((a, b) => a[0] - b[0])).toEqual([
      [1, true, null],
      [2, true, null],
      [5, false, 'session_expired'],
    ]);
    // Fanout's wall time is the longest interval, not the sum (8 s).
    expect(fan.result.elapsedSeconds).toBeLessThan(6.5);
    expect(fan.only.window).toMatchObject({ overlapping: false });
    expect(fan.only.window!.lowerSeconds).toBeGreaterThanOrEqual(2);
    expect(fan.only.window!.upperSeconds).toBeGreaterThanOrEqual(5);

    const [c1, c3] = lad.only.checkpoints;
    expect(c1).toMatchObject({ idleSecondsTarget: 1, success: true });
    expect(c3).toMatchObject({ idleSecondsTarget: 3, success: true });
    // The offset is 3 s, the real idle gap before it about 2 s (the original mislabelled this as 3):
    // 3 s minus the 1 s checkpoint and that call's own latency, which a busy runner stretches.
    expect(c3!.elapsedSinceLastCallSeconds).toBeGreaterThan(1.6);
    expect(c3!.elapsedSinceLastCallSeconds).toBeLessThan(2.5);
    expect(c3!.elapsedSinceLastCallSeconds).toBeLessThan(c3!.elapsedSinceOpenSeconds! - 0.9);
    expect(c3!.elapsedSinceOpenSeconds).toBeGreaterThan(3);
    // Bisect samples one gap per round at staggered phases, then confirms the upper edge.
  }, 40_000);

  // Survivors idle at most a third of the timeout: a timer that fires late on a busy runner
  // lengthens a gap (the probe never sleeps short), so they need room above them.
  it('scaled 10x (idle 0.3 s): fanout 0.05,0.1,0.5 → 0.05 and 0.1 survive, 0.5 session_expired, every exchange observed as source probe', async () => {
    const { result, only, observations } = await probe(
      { idleTimeoutMs: 300 },
      { mode: 'fanout', intervalsSeconds: [0.05, 0.1, 0.5] },
    );
    expect(gaps(only).sort((a, b) => a[0] - b[0])).toEqual([
      [0.05, true, null],
      [0.1, true, null],
      [0.5, false, 'session_expired'],
    ]);
    expect(only).toMatchObject({
      sessionIssued: true,
      stateless: false,
      validatesSessionIds: true,
      deleteSupported: true,
    });
    expect(only.initLatencySeconds).toBeGreaterThan(0);
    expect(only.firstCallLatencySeconds).toBeGreaterThan(0);
    expect(only.warmCallLatencySeconds).toBeGreaterThan(0);
    expect(only.toolsReturned).toBe(3);
    expect(only.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(only.connectSeconds).not.toBeNull();
    const exchanges = observations.flatMap((o) => (o.type === 'exchange' ? [o.exchange] : []));
    expect(exchanges.every((e) => e.source === 'probe' && e.probeRunId === result.id)).toBe(true);
    const expired = exchanges.filter((e) => e.outcome === 'session_expired');
    expect(expired).toHaveLength(1);
    expect(expired[0]!.idleGapMs).toBeGreaterThanOrEqual(500);
    expect(expired[0]!.confidence).toBe('spec');
    // Control request: recorded, without inventing a session.
    const control = exchanges.filter((e) => e.rpcMethod === 'tools/list' && e.sessionHash === null);
    expect(control).toHaveLength(1);
    expect(control[0]!.httpStatus).toBe(404);
  });

  it('scaled 10x (idle 0.3 s): bisect from 0.1,0.2,0.5 ends with a window no wider than 0.1 s containing 0.3 s', async () => {
    const { only } = await probe(
      { idleTimeoutMs: 300 },
      { mode: 'bisect', intervalsSeconds: [0.1, 0.2, 0.5], bisect: { minWindowSeconds: 0.1 } },
    );
    const w = only.window!;
    expect(w.overlapping).toBe(false);
    // The server's idle clock starts when it finishes answering, ours when we finish reading:
    // at this scale a scheduler hiccup (tens of ms) shows, so allow 0.05 s.
    expect(w.lowerSeconds!).toBeLessThanOrEqual(0.3 + 0.05);
    expect(w.upperSeconds!).toBeGreaterThanOrEqual(0.3 - 0.05);
    expect(w.upperSeconds! - w.lowerSeconds!).toBeLessThanOrEqual(0.1);
    expect(only.checkpoints.some((c) => (c.round ?? 0) > 0)).toBe(true);
    expect(only.checkpoints.length).toBeLessThanOrEqual(3 + 16);
  });

  it('scaled 10x: a sweeping server (idle 0.3 s, sweep every 0.2 s) gives an honest window around the overlap', async () => {
    const { only } = await probe(
      { idleTimeoutMs: 300, sweepIntervalMs: 200 },
      { mode: 'bisect', intervalsSeconds: [0.1, 0.2, 0.8], bisect: { minWindowSeconds: 0.05, budget: 9 } },
    );
    const w = only.window!;
    // Whatever the sweep timing, nothing survives past T + sweep period, nothing dies before T.
    expect(w.upperSeconds).not.toBeNull();
    expect(w.upperSeconds!).toBeGreaterThanOrEqual(0.3);
    expect(w.lowerSeconds!).toBeLessThanOrEqual(0.5 + 0.05);
    expect(only.checkpoints.length).toBeLessThanOrEqual(3 + 9);
  });

  it('ladder stops at the first failure (scaled 10x: idle 0.3 s, offsets 0.1,0.5,0.8)', async () => {
    const { only } = await probe(
      { idleTimeoutMs: 300 },
      { mode: 'ladder', intervalsSeconds: [0.1, 0.5, 0.8] },
    );
    expect(gaps(only)).toEqual([
      [0.1, true, null],
      [0.5, false, 'session_expired'],
    ]);
    // Offset 0.5 s from the first call, but the gap is measured from the last call: the end of
    // checkpoint 1 (about 0.4 s). Checked against the checkpoints' own times, not a fixed band,
    // so that a late timer on a busy runner cannot fail it; the upstream expired it, so ≥ 0.3 s.
    const [c1, c2] = only.checkpoints as [Checkpoint, Checkpoint];
    const sinceEndOfC1 = c2.elapsedSinceOpenSeconds! - c1.elapsedSinceOpenSeconds! - c1.latencySeconds!;
    expect(Math.abs(c2.elapsedSinceLastCallSeconds! - sinceEndOfC1)).toBeLessThan(0.003);
    expect(c2.elapsedSinceLastCallSeconds!).toBeLessThan(c2.elapsedSinceOpenSeconds! - 0.1);
    expect(c2.elapsedSinceLastCallSeconds!).toBeGreaterThan(0.29);
  });
});

describe('what the probe reports besides idle survival', () => {
  it('--hold-stream survives where the default expires (upstream spares sessions with a GET stream; scaled 6x)', async () => {
    const opts: DemoUpstreamOptions = { idleTimeoutMs: 500, spareWithStream: true };
    const [plain, held] = await Promise.all([
      probe(opts, { mode: 'fanout', intervalsSeconds: [1] }),
      probe(opts, { mode: 'fanout', intervalsSeconds: [1], holdStream: true }),
    ]);
    expect(gaps(plain.only)).toEqual([[1, false, 'session_expired']]);
    expect(plain.only.checkpoints[0]!.streamAttached).toBe(false);
    expect(held.only.warnings).toEqual([]);
    expect(gaps(held.only)).toEqual([[1, true, null]]);
    expect(held.only.checkpoints[0]!.streamAttached).toBe(true);
    expect(held.result.options.holdStream).toBe(true);
    expect(held.methods).toContain('GET');
    expect(plain.methods).not.toContain('GET');
  });

  it('an accept-any upstream: the control request flags it loudly', async () => {
    const { only } = await probe({ expiryStyle: 'accept-any' }, { intervalsSeconds: [0.05] });
    expect(only.validatesSessionIds).toBe(false);
    expect(only.controlRequest).toMatchObject({ accepted: true, httpStatus: 200, outcome: 'ok' });
    expect(only.warnings.join('\n')).toMatch(/SESSION IDS NOT VALIDATED/);
  });

  it('a stateless upstream: reported stateless with its per-call cost, no idle checkpoints', async () => {
    const { only } = await probe({ stateless: true, latencyMs: 20 }, { intervalsSeconds: [0.2] });
    expect(only).toMatchObject({ sessionIssued: false, stateless: true, checkpoints: [], fatalError: null });
    expect(only.perCallCostSeconds).toBeGreaterThanOrEqual(0.02);
    expect(only.warmCallLatencySeconds).toBeGreaterThanOrEqual(0.02);
    expect(only.warnings.join('\n')).toMatch(/stateless/);
  });

  it('configured auth headers are sent; a wrong token is reported as auth, never as expiry', async () => {
    const good = await upstreams.start({ requireAuth: 's3cret', idleTimeoutMs: 300 });
    const obs: Observation[] = [];
    const run = startProbeRun({
      upstreams: [
        { id: 'good', url: good.url, headers: { Authorization: 'Bearer s3cret' }, timeoutSeconds: 5 },
        { id: 'bad', url: good.url, headers: { Authorization: 'Bearer wrong' }, timeoutSeconds: 5 },
      ],
      intervalsSeconds: [0.05],
      record: (o) => obs.push(o),
    });
    const result = await run.done;
    const [ok, bad] = result.results;
    expect(ok!.checkpoints[0]!.success).toBe(true);
    expect(bad!.fatalError).toMatch(/initialize failed: auth \(HTTP 401\)/);
    const exchanges = obs.flatMap((o) => (o.type === 'exchange' ? [o.exchange] : []));
    expect(exchanges.some((e: ExchangeRecord) => e.outcome === 'session_expired')).toBe(false);
    expect(JSON.stringify(obs)).not.toContain('s3cret');
  });

  it('DELETE support is reported (the SDK server ends the session with 200)', async () => {
    const { only } = await probe({ idleTimeoutMs: 300 }, { intervalsSeconds: [0.05] });
    expect(only.deleteSupported).toBe(true);
    expect(only.deleteHttpStatus).toBe(200);
  });

  it('an unreachable upstream is a fatal error for that upstream only', async () => {
    const run = startProbeRun({
      upstreams: [
        { id: 'gone', url: `http://127.0.0.1:${REFUSED_PORT}/mcp`, headers: {}, timeoutSeconds: 2 },
      ],
      intervalsSeconds: [0.05],
      record: () => {},
    });
    const result = await run.done;
    expect(result.status).toBe('done');
    expect(result.results[0]!.fatalError).toMatch(/initialize failed: connection_error/);
    // A handshake that never happened has no init time (a refusal is not a fast server).
    expect(result.results[0]!.initLatencySeconds).toBeNull();
  });

  it('a waiting run touches its stored row every heartbeat, and stops once it has ended', async () => {
    const up = await upstreams.start({ idleTimeoutMs: 5000 });
    const store = openSqliteStore({ path: ':memory:' });
    cleanups.push(() => store.close());
    const run = startProbeRun({
      upstreams: [{ id: 'up', url: up.url, headers: {}, timeoutSeconds: 5 }],
      intervalsSeconds: [1.2],
      record: () => {},
      store,
      heartbeatMs: 100,
    });
    const heartbeat = async () => (await store.getProbeRun(run.id))?.heartbeatAt ?? null;
    // During the 1.2 s idle gap no checkpoint saves the row: only the heartbeat does.
    await waitForValue(async () => run.result.results[0]!.initLatencySeconds !== null);
    const seen = new Set<number>();
    const until = Date.now() + 700;
    while (Date.now() < until && run.result.results[0]!.checkpoints.length === 0) {
      const row = await store.getProbeRun(run.id);
      expect(row?.status).toBe('running');
      if (row?.heartbeatAt) seen.add(row.heartbeatAt);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    const result = await run.done;
    expect(result.status).toBe('done');
    const final = await store.getProbeRun(run.id);
    expect(final).toMatchObject({ status: 'done', finishedAt: expect.any(Number) });
    expect(final!.heartbeatAt).toBeGreaterThanOrEqual(Math.max(...seen));
    await new Promise((r) => setTimeout(r, 300));
    expect(await heartbeat()).toBe(final!.heartbeatAt);
    expect((await store.getProbeRun(run.id))?.status).toBe('done');
  });

  it('cancel ends the run promptly with status cancelled and keeps what was measured', async () => {
    const up = await upstreams.start({ idleTimeoutMs: 5000 });
    let firstCheckpoint!: () => void;
    const checkpointSeen = new Promise<void>((resolve) => {
      firstCheckpoint = resolve;
    });
    const run = startProbeRun({
      upstreams: [{ id: 'slow', url: up.url, headers: {}, timeoutSeconds: 5 }],
      intervalsSeconds: [0.05, 10],
      record: () => {},
      onEvent: (e) => {
        if (e.type === 'checkpoint') firstCheckpoint();
      },
    });
    // Cancelled during the 10 s idle, once the 0.05 s checkpoint is in.
    await checkpointSeen;
    await new Promise((r) => setTimeout(r, 50));
    run.cancel();
    const t0 = Date.now();
    const result = await run.done;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(result.status).toBe('cancelled');
    expect(result.results[0]!.initLatencySeconds).not.toBeNull();
    expect(result.results[0]!.checkpoints.map((c) => c.idleSecondsTarget)).toEqual([0.05]);
  });
});

// Concurrent (each case idles about 4 s), so each case owns and closes its upstream
// instead of the shared afterEach, which would close the others' mid-run.
describe.concurrent('read-only by construction', () => {
  const modes: ProbeMode[] = ['search', 'ladder', 'fanout', 'bisect'];
  for (const mode of modes) {
    for (const holdStream of [false, true]) {
      it(`${mode}${holdStream ? ' --hold-stream' : ''} --keepalive sends only initialize, notifications/initialized, tools/list, ping, DELETE${holdStream ? ', GET' : ''}`, async ({
        expect,
        onTestFinished,
      }) => {
        const own = upstreamPool();
        onTestFinished(() => own.closeAll());
        // 12x margin between the ping interval and the idle timeout: a ping delayed by a busy
        // runner must not let the session expire (at 6x, one CI run saw a ping come too late).
        const { methods, only } = await probe(
          { idleTimeoutMs: 1200 },
          {
            mode,
            intervalsSeconds: [0.1, 1.5],
            holdStream,
            keepaliveSeconds: 0.1,
            bisect: { minWindowSeconds: 0.15, budget: 3 },
          },
          own,
        );
        const allowed = new Set([...READ_ONLY_METHODS, 'DELETE', ...(holdStream ? ['GET'] : [])]);
        expect(methods.filter((m) => !allowed.has(m))).toEqual([]);
        expect(methods).toContain('tools/list');
        expect(methods).toContain('ping');
        // The fixture's idle clock restarts on every request: pings keep its sessions alive.
        const { intervalSeconds, keptAlive, pingFailures, errorType, errorMessage } = only.keepalive!;
        expect({ intervalSeconds, keptAlive, pingFailures, errorType, errorMessage }).toEqual({
          intervalSeconds: 0.1,
          keptAlive: true,
          pingFailures: 0,
          errorType: null,
          errorMessage: null,
        });
        expect(only.keepalive!.idleSeconds).toBeGreaterThan(1.2);
      });
    }
  }
});

describe('scale', () => {
  it('a 50-upstream fanout run (idle 3 s, intervals 1,2,5: the exact numbers) finishes in about its longest interval', async () => {
    // Minimal spec-shaped upstreams: fifty SDK servers in this process would measure the SDK's CPU, not the prober.
    const started = await Promise.all(
      Array.from({ length: 50 }, () => startMinimalUpstream({ idleTimeoutMs: 3000 })),
    );
    for (const u of started) cleanups.push(() => u.close());
    const run = startProbeRun({
      upstreams: started.map((u, i) => ({ id: `u${i}`, url: u.url, headers: {}, timeoutSeconds: 10 })),
      intervalsSeconds: [1, 2, 5],
      record: () => {},
    });
    const result = await run.done;
    expect(result.results.map((r) => r.fatalError).filter(Boolean)).toEqual([]);
    for (const r of result.results) {
      expect(r.checkpoints.every((c) => c.failedAt !== 'open')).toBe(true);
      expect(gaps(r).sort((a, b) => a[0] - b[0])).toEqual([
        [1, true, null],
        [2, true, null],
        [5, false, 'session_expired'],
      ]);
    }
    // Every session idled its own interval, concurrently: the real gaps match the targets.
    for (const r of result.results)
      for (const c of r.checkpoints)
        expect(c.elapsedSinceLastCallSeconds! - c.idleSecondsTarget).toBeLessThan(0.5);
    // Longest interval 5 s; one upstream after the other would take 50 × 5 s. Alone it takes
    // ~5.9 s; the slack is for a suite sharing two cores.
    expect(result.elapsedSeconds).toBeLessThan(9);
  });
});
