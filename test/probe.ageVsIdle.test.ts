// Idle versus age from a probe alone: fanout's sessions idle once each (gap and age move
// together), so a busy companion kept alive with pings tells an idle timeout from a maximum
// session age. Scaled: 1.5 s, fanout 0.5, 1, 2.5 s.
import { afterEach, describe, expect, it } from 'vitest';
import { estimateLifetime } from '../src/analysis/lifetime.js';
import { startProbeRun } from '../src/probe/run.js';
import type { ExchangeRecord, Observation } from '../src/sessions/types.js';
import { upstreamPool } from './fixtures/upstreams.js';

const upstreams = upstreamPool();
afterEach(() => upstreams.closeAll());

async function probeBasis(options: { idleTimeoutMs?: number; lifetimeMs?: number }) {
  const upstream = await upstreams.start(options);
  const observations: Observation[] = [];
  const run = startProbeRun({
    upstreams: [{ id: 'fixture', url: upstream.url, headers: {}, timeoutSeconds: 5 }],
    mode: 'fanout',
    intervalsSeconds: [0.5, 1, 2.5],
    record: (o) => observations.push(o),
  });
  const result = await run.done;
  const exchanges = observations.flatMap((o) =>
    o.type === 'exchange' ? [o.exchange as ExchangeRecord] : [],
  );
  return { busy: result.results[0]!.busySession!, lifetime: estimateLifetime(exchanges, []) };
}

describe('idle versus age from a probe alone', () => {
  it('a maximum session age: the busy session dies at that age with short gaps, and the basis is age', async () => {
    const { busy, lifetime } = await probeBasis({ lifetimeMs: 1500 });
    expect(busy).toMatchObject({ survived: false, errorType: 'session_expired', pingIntervalSeconds: 0.25 });
    // It died before the longest gap's session was checked, however busy.
    expect(busy.aliveToAgeSeconds!).toBeLessThan(2.5);
    expect(lifetime.basis).toBe('age');
    // Our ages count from initialize's start, the server's from its own bookkeeping.
    expect(lifetime.upperMs!).toBeGreaterThanOrEqual(1500);
    expect(lifetime.lowerMs!).toBeLessThan(lifetime.upperMs!);
  });

  it('an idle timeout: the busy session outlives every gap, and the basis is idle', async () => {
    const { busy, lifetime } = await probeBasis({ idleTimeoutMs: 1500 });
    expect(busy).toMatchObject({ survived: true, errorType: null });
    expect(busy.aliveToAgeSeconds!).toBeGreaterThan(2);
    expect(lifetime.basis).toBe('idle');
    expect(lifetime.lowerMs!).toBeLessThan(1500);
    expect(lifetime.upperMs!).toBeGreaterThanOrEqual(1500);
  });
});
