// /api/expirations has one row per expired session, even when the client keeps using the dead
// session (a retry, then its DELETE) and each of those gets a session error too.
import { afterEach, describe, expect, it } from 'vitest';
import { initializeSession, postJsonRpc, toolsListMessage, upstreamPool } from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.cleanup()));
  await upstreams.closeAll();
});

describe('/api/expirations', () => {
  it('lists an expired session once, with the idle gap of the request that found it expired', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 300, expiryStyle: 'spec' });
    const p = await startTestProxy([upstreamConfig('up', upstream.url)]);
    proxies.push(p);
    const url = p.mcpUrl('up');
    const { sessionId } = await initializeSession(url);
    await sleep(1200);
    expect((await postJsonRpc(url, toolsListMessage(2), { sessionId })).status).toBe(404);
    expect((await postJsonRpc(url, toolsListMessage(3), { sessionId })).status).toBe(404);
    const deleted = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sessionId ?? '' } });
    await deleted.arrayBuffer();
    await p.flush();

    const rows = (await (await fetch(`${p.url}/api/expirations?upstream=up`)).json()) as Array<{
      sessionHash: string;
      idleGapSeconds: number | null;
    }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.idleGapSeconds).toBeGreaterThanOrEqual(1);
    // The repeats are still stored as exchanges: only the listing folds them.
    const stored = await p.store.listExpirations({ upstream: 'up', limit: 100 });
    expect(stored.length).toBeGreaterThanOrEqual(2);
  });
});
