// Load, reduced for every run: concurrent sessions through the real proxy, and every
// exchange lands in the store. The full version is `npm run soak` (test/soak/run.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { initializeSession, postJsonRpc, upstreamPool } from './fixtures/upstreams.js';
import { startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.cleanup()));
  await upstreams.closeAll();
});

/** Sessions × calls per response mode; SSE costs more per call, so it runs a smaller grid. */
const GRID = { json: { SESSIONS: 20, CALLS: 20 }, sse: { SESSIONS: 10, CALLS: 10 } } as const;

describe('load (reduced)', () => {
  for (const responseMode of ['json', 'sse'] as const) {
    const { SESSIONS, CALLS } = GRID[responseMode];
    it(`${SESSIONS} concurrent sessions × ${CALLS} calls (${responseMode}): every exchange is stored, none lost or doubled`, async () => {
      const upstream = await upstreams.start({ responseMode });
      const p = await startTestProxy([upstreamConfig('up', upstream.url)]);
      proxies.push(p);
      const mcp = p.mcpUrl('up');
      let sent = 0;
      const statuses = new Map<number, number>();
      await Promise.all(
        Array.from({ length: SESSIONS }, async (_, s) => {
          const { sessionId } = await initializeSession(mcp);
          sent += 2; // initialize + notifications/initialized
          for (let c = 0; c < CALLS; c++) {
            const id = s * 1000 + c;
            const res = await postJsonRpc(
              mcp,
              {
                jsonrpc: '2.0',
                id,
                method: 'tools/call',
                params: { name: 'echo', arguments: { text: `s${s}c${c}` } },
              },
              { sessionId },
            );
            sent++;
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          }
        }),
      );
      expect(Object.fromEntries(statuses)).toEqual({ 200: SESSIONS * CALLS });
      await p.flush();
      const exchanges = await p.store.listExchanges({ upstream: 'up', limit: 10_000 });
      expect(exchanges).toHaveLength(sent);
      const calls = exchanges.filter((e) => e.toolName === 'echo');
      expect(new Set(calls.map((e) => `${e.sessionHash}/${e.rpcId}`)).size).toBe(SESSIONS * CALLS);
      expect(calls.every((e) => e.outcome === 'ok' && e.idleGapMs !== null)).toBe(true);
      const sessions = await p.store.listSessions({ upstream: 'up', limit: 1000 });
      expect(sessions).toHaveLength(SESSIONS);
      expect(sessions.every((s) => s.exchanges === CALLS + 2)).toBe(true);
      expect(p.recorder.stats()).toMatchObject({ dropped: 0, failures: 0, queued: 0 });
    });
  }
});
