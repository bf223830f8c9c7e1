// The `search` mode against mcp-proxy (the real third-party proxy) with --sessionIdleTimeout:
// it sweeps, so a session lives between T and T + one sweep period. Started with POST
// /api/probes and no mode; the window must stay honest, and the events must say how it went.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeEvent, ProbeResult } from '../src/probe/result.js';
import { type McpProxySweeper, startMcpProxySweeper } from './fixtures/mcpProxySweeper.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

/** Loopback latency: the server stamps activity a few ms apart from the probe's own clock. */
const CLOCK_SLACK_SECONDS = 0.05;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((c) => c()));
});

describe('probe search against a sweeper', () => {
  it('POST /api/probes with no mode searches; against mcp-proxy’s sweeper it is flagged, the lower edge stays at or below T, and its events say so', async () => {
    const T = 2;
    const sweeper: McpProxySweeper = await startMcpProxySweeper({ idleTimeoutMs: T * 1000 });
    closers.push(() => sweeper.close());
    const p: TestProxy = await startTestProxy([upstreamConfig('swept', sweeper.url)]);
    closers.push(() => p.cleanup());
    const started = await fetch(`${p.url}/api/probes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ upstream: 'swept' }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };

    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    const decoder = new TextDecoder();
    for await (const chunk of (await fetch(`${p.url}/api/probes/${id}/events`)).body!)
      parser.feed(decoder.decode(chunk, { stream: true }));
    const search = events
      .filter((e) => e.event === 'search')
      .map((e) => JSON.parse(e.data) as Extract<ProbeEvent, { type: 'search' }>);
    expect(search.length).toBeGreaterThan(2);
    expect(search[0]).toMatchObject({ phase: 'climb', lowerSeconds: null, upperSeconds: null });
    expect(search.at(-1)!.phase).toBe('done');

    let result: ProbeResult | null = null;
    for (let i = 0; i < 100 && result?.status !== 'done'; i++) {
      result = (await (await fetch(`${p.url}/api/probes/${id}`)).json()) as ProbeResult;
      if (result.status !== 'done') await sleep(50);
    }
    expect(result!.mode).toBe('search');
    const s = result!.results[0]!.search!;
    expect(sweeper.reaped).toBeGreaterThan(0);
    const lower = s.window.lowerSeconds ?? 0;
    expect(s.window.upperSeconds!).toBeGreaterThanOrEqual(T - CLOCK_SLACK_SECONDS);
    // Staggered re-tests of the bracket's edges meet the sweep at several phases, so survivals
    // above expiries show it; the window then keeps to the safe side of T.
    expect(s.sweep.detected).toBe(true);
    expect(s.stopReason).toBe('sweeper');
    expect(lower).toBeLessThanOrEqual(T);
    expect(search.at(-1)).toMatchObject({ stopReason: 'sweeper', overlapping: true, sweepDetected: true });
    expect(s.sweep.largestSurvivalSeconds!).toBeGreaterThan(T);
    expect(result!.results[0]!.window).toMatchObject({
      lowerSeconds: s.window.lowerSeconds,
      overlapping: true,
    });
    expect(s.sessionsOpened + 1).toBeLessThanOrEqual(32);
  }, 40_000);
});
