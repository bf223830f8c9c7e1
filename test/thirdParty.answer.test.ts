// The recommendation against real third-party servers and clients, through the real proxy:
// held GET streams (fastmcp under the SDK 1.x client), censored data (server-everything and
// fastmcp that never expire within what was probed), a caller running six sessions at once
// against a 3 s upstream (supergateway), and an upstream restart under a live session.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/analysis/index.js';
import { startProbeRun } from '../src/probe/run.js';
import { startFastmcp, startSupergateway, type ThirdPartyServer } from './fixtures/thirdParty.js';
import {
  initializeSession,
  postJsonRpc,
  startServerEverything,
  toolsListMessage,
} from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c().catch(() => {})));
});
const track = <T extends { close(): Promise<void> }>(s: T): T => {
  cleanups.push(() => s.close());
  return s;
};
const trackProxy = (p: TestProxy): TestProxy => {
  cleanups.push(() => p.cleanup());
  return p;
};

async function reportOf(proxy: TestProxy, id: string): Promise<Report['upstreams'][number]> {
  await proxy.flush();
  const report = (await (await fetch(`${proxy.url}/api/report`)).json()) as Report;
  return report.upstreams.find((u) => u.id === id)!;
}

describe('the answer on real servers and clients', () => {
  it.concurrent('fastmcp under the SDK 1.x client (held GET stream), calls 1, 3 and 5 s apart: a reuse strategy, never a TTL under 1 s', async () => {
    const fast = track(await startFastmcp());
    const proxy = trackProxy(await startTestProxy([upstreamConfig('fastmcp', fast.url)]));
    const client = new Client({ name: 'sdk-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(proxy.mcpUrl('fastmcp'))));
    try {
      await client.listTools();
      for (const gap of [1000, 3000, 5000]) {
        await sleep(gap);
        await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      }
    } finally {
      await client.close();
    }
    const entry = await reportOf(proxy, 'fastmcp');
    const rec = entry.recommendation;
    expect(rec.evidence.used).toEqual(['withStream']);
    expect(rec.strategy, rec.reason).not.toBe('per-call');
    if (rec.poolIdleTtlSeconds !== null) expect(rec.poolIdleTtlSeconds).toBeGreaterThanOrEqual(1);
    for (const s of rec.strategies) {
      if (s.idleTtlSeconds !== null) expect(s.idleTtlSeconds).toBeGreaterThanOrEqual(1);
    }
    expect(entry.lifetime.withStream.maxSurvivalSeconds).toBeGreaterThanOrEqual(4.9);
    expect(rec.reason).toContain('with a GET stream held');
  }, 60_000);

  it.concurrent('server-everything and fastmcp probed at 1-6 s: no strategy is charged stale failures and the reason names the next gaps', async () => {
    const [everything, fast] = await Promise.all([startServerEverything('streamableHttp'), startFastmcp()]);
    track(everything);
    track(fast);
    const proxy = trackProxy(
      await startTestProxy([
        upstreamConfig('everything', everything.url),
        upstreamConfig('fastmcp', fast.url),
      ]),
    );
    const run = startProbeRun({
      upstreams: [
        { id: 'everything', url: everything.url, headers: {}, timeoutSeconds: 5 },
        { id: 'fastmcp', url: fast.url, headers: {}, timeoutSeconds: 5 },
      ],
      mode: 'fanout',
      intervalsSeconds: [1, 2, 3, 4, 5, 6],
      record: proxy.recorder.record,
      store: proxy.store,
    });
    const result = await run.done;
    expect(result.results.map((r) => r.fatalError)).toEqual([null, null]);
    for (const id of ['everything', 'fastmcp']) {
      const entry = await reportOf(proxy, id);
      const rec = entry.recommendation;
      expect(entry.lifetime.expirations, id).toBe(0);
      for (const s of rec.strategies)
        expect(s.expectedStaleFailuresPer100Calls, `${id} ${s.strategy}`).toBe(0);
      expect(rec.nextProbeGapsSeconds.length, id).toBeGreaterThan(0);
      expect(rec.reason, id).toMatch(/probe \d+(\.\d+)? (s|min|h)( and \d+(\.\d+)? (s|min|h))? idle/);
      expect(rec.reason, id).not.toMatch(/stale failures|run `mcp-session-probe probe`/);
    }
  }, 60_000);

  it.concurrent('one caller running six sessions at once against a 3 s upstream (supergateway): per-turn is charged the stale failures the caller saw', async () => {
    const gateway = track(await startSupergateway(3000));
    const proxy = trackProxy(await startTestProxy([upstreamConfig('gateway', gateway.url)]));
    const url = proxy.mcpUrl('gateway');
    const gaps = [1000, 4000, 1500, 4500];
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        await sleep(i * 300);
        let { sessionId } = await initializeSession(url);
        const seen: number[] = [];
        let id = 10;
        for (const gap of gaps) {
          await sleep(gap);
          const answer = await postJsonRpc(url, toolsListMessage(id++), { sessionId });
          seen.push(answer.status);
          // A caller that lost its session opens a new one and goes on.
          if (answer.status !== 200) sessionId = (await initializeSession(url)).sessionId;
        }
        return seen;
      }),
    );
    const failures = statuses.flat().filter((s) => s !== 200).length;
    expect(failures, JSON.stringify(statuses)).toBeGreaterThanOrEqual(6);
    const rec = (await reportOf(proxy, 'gateway')).recommendation;
    expect(rec.workload).toMatchObject({ source: 'observed', callers: 1 });
    expect(rec.expectedStaleFailuresPer100Calls['per-turn']!, rec.reason).toBeGreaterThan(0);
    expect(rec.strategy).not.toBe('per-turn');
  }, 60_000);

  it.concurrent('server-everything restarted under a live session: the idle window is unchanged and the loss is session_lost / upstream_restart', async () => {
    let everything = await startServerEverything('streamableHttp');
    cleanups.push(() => everything.close());
    const proxy = trackProxy(await startTestProxy([upstreamConfig('everything', everything.url)]));
    const url = proxy.mcpUrl('everything');
    const { sessionId } = await initializeSession(url);
    for (const gap of [500, 1000]) {
      await sleep(gap);
      expect((await postJsonRpc(url, toolsListMessage(gap), { sessionId })).status).toBe(200);
    }
    const before = (await reportOf(proxy, 'everything')).lifetime;

    await everything.close();
    expect((await postJsonRpc(url, toolsListMessage(7), { sessionId })).status).toBe(502);
    everything = await startServerEverything('streamableHttp', { port: everything.port });
    const lost = await postJsonRpc(url, toolsListMessage(8), { sessionId });
    expect([400, 404]).toContain(lost.status);

    const after = (await reportOf(proxy, 'everything')).lifetime;
    expect(after.windows.idle).toEqual(before.windows.idle);
    expect(after.lowerBoundSeconds).toBe(before.lowerBoundSeconds);
    expect(after.expirations).toBe(0);
    expect(after.losses).toEqual({ upstream_restart: 1, stream_broken: 0, client_deleted: 0 });
    const expirations = (await (
      await fetch(`${proxy.url}/api/expirations?upstream=everything`)
    ).json()) as Array<{
      outcome: string;
      cause: string | null;
    }>;
    expect(expirations).toEqual([
      expect.objectContaining({ outcome: 'session_lost', cause: 'upstream_restart' }),
    ]);
  }, 60_000);
});
