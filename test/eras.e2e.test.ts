// Both protocol eras through the proxy (docs/eras.md), against the official SDK v2 servers in
// three shapes and mcp-proxy 6.7, driven by the v2 client in `auto` and `legacy` modes and by
// the 1.x client: the same results direct and proxied, the right session model per upstream,
// the sessionless answer, the 2025 window of the dual-era servers, listen streams measured.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/analysis/index.js';
import type { ProbeResult } from '../src/probe/result.js';
import {
  type EraUpstream,
  startDualEraUpstream,
  startHandlerUpstream,
  startMcpProxyUpstream,
} from './fixtures/eraUpstreams.js';
import { initializeSession, postJsonRpc, toolsListMessage } from './fixtures/upstreams.js';
import { runCli, writeConfig } from './helpers/cli.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

/** Idle timeout of the dual-era servers' 2025 sessions. */
const IDLE_MS = 2_500;

type ClientKind = 'v2-auto' | 'v2-legacy' | 'v1';
const CLIENTS: ClientKind[] = ['v2-auto', 'v2-legacy', 'v1'];

/** What a caller sees: the tools and one call's answer, or the JSON-RPC code it was refused with. */
async function useUpstream(kind: ClientKind, url: string) {
  const client =
    kind === 'v1'
      ? new ClientV1({ name: 'agent-v1', version: '1.0.0' })
      : new ClientV2(
          { name: 'agent-v2', version: '2.0.0' },
          { versionNegotiation: { mode: kind === 'v2-auto' ? 'auto' : 'legacy' } },
        );
  try {
    const transport = kind === 'v1' ? new TransportV1(new URL(url)) : new TransportV2(new URL(url));
    await client.connect(transport as never);
    const tools = await client.listTools();
    const call = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    const era = client instanceof ClientV2 ? client.getProtocolEra() : 'legacy';
    return { era, tools: tools.tools.map((t) => t.name), content: call.content };
  } catch (err) {
    const code = /"code":(-?\d+)/.exec(String((err as Error).message))?.[1] ?? 'other';
    return { refused: code };
  } finally {
    await client.close().catch(() => {});
  }
}

const shapes: Record<string, () => Promise<EraUpstream>> = {
  handler: () => startHandlerUpstream('stateless'),
  strict: () => startHandlerUpstream('reject'),
  dual: () => startDualEraUpstream(IDLE_MS),
  mcpproxy: () => startMcpProxyUpstream(IDLE_MS),
};
const upstreams: Record<string, EraUpstream> = {};
let proxy: TestProxy;

beforeAll(async () => {
  for (const [id, start] of Object.entries(shapes)) upstreams[id] = await start();
  proxy = await startTestProxy(Object.entries(upstreams).map(([id, u]) => upstreamConfig(id, u.url)));
});
afterAll(async () => {
  await proxy?.cleanup();
  for (const u of Object.values(upstreams)) await u.close();
});

/** A 2025 session without a GET stream: survives `short` idle, then sits idle `long` (ms). */
async function idleSession(url: string, short: number, long: number): Promise<number[]> {
  const { sessionId } = await initializeSession(url);
  await sleep(short);
  const first = await postJsonRpc(url, toolsListMessage(2), { sessionId });
  await sleep(long);
  const second = await postJsonRpc(url, toolsListMessage(3), { sessionId });
  return [first.status, second.status];
}

describe('two eras through the proxy', () => {
  it('gives every client the same results direct and proxied, and tells each upstream its session model', async () => {
    const ids = Object.keys(shapes);
    // The 2025 windows of the dual-era servers: a survival at 1 s and an expiry at 2 x the timeout.
    const windows = Promise.all(
      ['dual', 'mcpproxy'].map((id) => idleSession(proxy.mcpUrl(id), 1_000, IDLE_MS * 2)),
    );
    for (const id of ids) {
      for (const kind of CLIENTS) {
        const direct = await useUpstream(kind, upstreams[id]!.url);
        const proxied = await useUpstream(kind, proxy.mcpUrl(id));
        expect({ id, kind, ...proxied }).toEqual({ id, kind, ...direct });
        if (kind === 'v2-auto') expect(direct).toMatchObject({ era: 'modern', tools: ['echo'] });
        if (id === 'strict' && kind !== 'v2-auto') expect(direct).toEqual({ refused: '-32022' });
      }
    }
    // A listen stream its client closes, through the proxy: measured, never an error.
    const listener = new ClientV2(
      { name: 'listener', version: '2.0.0' },
      { versionNegotiation: { mode: 'auto' } },
    );
    await listener.connect(new TransportV2(new URL(proxy.mcpUrl('dual'))));
    const subscription = await listener.listen({ toolsListChanged: true });
    await sleep(300);
    await subscription.close();
    expect(await subscription.closed).toBe('local');
    await listener.close();

    expect(await windows).toEqual([
      [200, 404],
      [200, 404],
    ]);
    await sleep(200); // the listen exchange ends when the proxy sees the client's close
    await proxy.flush();

    const report = (await (await fetch(`${proxy.url}/api/report`)).json()) as Report;
    const entry = (id: string) => report.upstreams.find((u) => u.id === id)!;
    expect(Object.fromEntries(ids.map((id) => [id, entry(id).sessionModel]))).toEqual({
      handler: 'sessionless',
      strict: 'sessionless',
      dual: 'both',
      mcpproxy: 'both',
    });
    for (const id of ['handler', 'strict']) {
      expect(entry(id).recommendation).toMatchObject({ strategy: 'per-call', poolIdleTtlSeconds: null });
      expect(entry(id).recommendation.reason).toContain('sessions do not exist there');
      expect(entry(id).protocolVersions.answered).toContain('2026-07-28');
    }
    for (const id of ['dual', 'mcpproxy']) {
      const e = entry(id);
      expect(e.lifetime.lowerBoundSeconds!).toBeLessThanOrEqual(IDLE_MS / 1000);
      expect(e.lifetime.upperBoundSeconds!).toBeGreaterThan(IDLE_MS / 1000);
      expect(e.eras?.['2026'].recommendation).toMatchObject({
        strategy: 'per-call',
        poolIdleTtlSeconds: null,
      });
      expect(e.eras?.['2025'].recommendation).toEqual(e.recommendation);
      expect(e.protocolVersions.answered).toEqual(expect.arrayContaining(['2026-07-28', '2025-11-25']));
      expect(e.protocolVersions.asked).toEqual(expect.arrayContaining(['2026-07-28', '2025-11-25']));
      expect(new Set(e.migration.map((m) => m.era))).toEqual(new Set(['2025', '2026']));
    }
    expect(entry('dual').lifetime.listen).toMatchObject({
      streams: 1,
      endedBy: { client: 1, server: 0, error: 0 },
    });

    const lifetime = (await (await fetch(`${proxy.url}/api/upstreams/strict/lifetime`)).json()) as Record<
      string,
      unknown
    >;
    expect(lifetime).toMatchObject({
      sessionModel: 'sessionless',
      protocolVersions: { answered: ['2026-07-28'] },
    });

    const migration = (await (await fetch(`${proxy.url}/api/migration`)).json()) as {
      callers: { upstream: string; era: string | null; callerHash: string | null }[];
    };
    expect(new Set(migration.callers.filter((m) => m.upstream === 'dual').map((m) => m.era))).toEqual(
      new Set(['2025', '2026']),
    );
    expect(migration.callers.every((m) => m.callerHash === null || /^[0-9a-f]{16}$/.test(m.callerHash))).toBe(
      true,
    );

    const exchanges = await proxy.store.listExchanges({ limit: 10_000 });
    // (2025 standalone GET streams the clients dropped while closing are another matter.)
    expect(exchanges.filter((e) => e.outcome === 'stream_closed' && e.httpMethod !== 'GET')).toEqual([]);
    const listens = exchanges.filter((e) => e.rpcMethod === 'subscriptions/listen');
    expect(listens.map((e) => [e.outcome, e.era])).toEqual([['ok', '2026']]);
    // Sessionless exchanges are observations without a session: never an idle gap.
    for (const e of exchanges.filter((x) => x.era === '2026')) {
      expect([e.sessionHash, e.idleGapMs, e.sessionAgeMs]).toEqual([null, null, null]);
    }
  }, 60_000);
});

describe('the probe speaks both eras', () => {
  const expected = { handler: 'sessionless', strict: 'sessionless', dual: 'both', mcpproxy: 'both' };

  function check(results: ProbeResult['results']) {
    expect(Object.fromEntries(results.map((r) => [r.upstream, [r.sessionModel, r.fatalError]]))).toEqual({
      handler: ['sessionless', null],
      strict: ['sessionless', null],
      dual: ['both', null],
      mcpproxy: ['both', null],
    });
    for (const r of results) {
      expect(r.sessionless).toMatchObject({
        supported: true,
        protocolVersion: '2026-07-28',
        toolsReturned: 1,
      });
      expect(r.sessionless!.callLatencySeconds).toBeGreaterThan(0);
    }
    for (const id of ['dual', 'mcpproxy']) {
      const w = results.find((r) => r.upstream === id)!.window!;
      expect(w.lowerSeconds!).toBeLessThanOrEqual(IDLE_MS / 1000);
      expect(w.upperSeconds!).toBeGreaterThan(IDLE_MS / 1000);
    }
  }

  it('ends without a fatalError on each shape, over the API and the CLI, and measures the 2025 window where sessions exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-eras-'));
    try {
      const config = writeConfig(dir, {
        upstreams: Object.entries(upstreams).map(([id, u]) => ({
          id,
          url: u.url,
          transport: 'streamable-http',
        })),
      });
      const output = join(dir, 'result.json');
      const cli = runCli([
        'probe',
        '--config',
        config,
        '--db',
        join(dir, 'probe.db'),
        '--mode',
        'fanout',
        '--intervals',
        '1,5',
        '--output',
        output,
      ]);
      const started = await Promise.all(
        Object.keys(expected).map(async (upstream) => {
          const res = await fetch(`${proxy.url}/api/probes`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ upstream, mode: 'fanout', intervals: [1, 5] }),
          });
          expect(res.status).toBe(202);
          return ((await res.json()) as { id: string }).id;
        }),
      );
      const viaApi: ProbeResult['results'] = [];
      for (const id of started) {
        for (;;) {
          const run = (await (await fetch(`${proxy.url}/api/probes/${id}`)).json()) as ProbeResult;
          if (run.status !== 'running') {
            expect([run.status, run.fatalError]).toEqual(['done', null]);
            viaApi.push(...run.results);
            break;
          }
          await sleep(200);
        }
      }
      check(viaApi);
      expect(await cli.exited).toBe(0);
      expect(cli.output()).toContain('SESSIONLESS (MCP 2026-07-28)');
      check((JSON.parse(readFileSync(output, 'utf8')) as ProbeResult).results);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
