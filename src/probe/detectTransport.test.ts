import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServerEverything, upstreamPool } from '../../test/fixtures/upstreams.js';
import { openStore } from '../store/index.js';
import { detectTransport, resolveTransport, TransportDetectionError } from './detectTransport.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await upstreams.closeAll();
  for (const c of cleanups.splice(0)) await c();
});

const settle = () => new Promise((r) => setTimeout(r, 100));

describe('detectTransport', () => {
  it('finds Streamable HTTP on the demo upstream and deletes the session it opened', async () => {
    const upstream = await upstreams.start();
    const found = await detectTransport(upstream.url);
    expect(found.transport).toBe('streamable-http');
    expect(upstream.stats.sessionsCreated).toBe(1);
    expect(upstream.stats.activeSessions()).toBe(0);
  });

  it('falls back to HTTP+SSE on a legacy-only upstream (POST answered 405) and closes its stream', async () => {
    const upstream = await upstreams.startLegacy();
    const found = await detectTransport(upstream.url);
    expect(found).toEqual({
      transport: 'sse',
      evidence: 'POST initialize answered 405; GET opened an SSE stream announcing an endpoint',
    });
    await settle();
    expect(upstream.stats.activeSessions()).toBe(0);
  });

  for (const [mode, transport, status] of [
    ['streamableHttp', 'streamable-http', 200],
    ['sse', 'sse', 404],
  ] as const) {
    it(`server-everything in ${mode} mode → ${transport}`, async () => {
      const everything = await startServerEverything(mode);
      cleanups.push(() => everything.close());
      const found = await detectTransport(everything.url);
      expect(found.transport).toBe(transport);
      expect(found.evidence).toContain(`answered ${status}`);
    }, 20_000);
  }

  // SSE allows CR alone as a line end. A legacy server keeps its stream open after the endpoint
  // event, so the CR that ends the event's blank line must settle it without a later byte.
  it('reads an endpoint event whose lines end in CR alone, on a stream that stays open', async () => {
    const server = createServer((req, res) => {
      if (req.method === 'POST') return void res.writeHead(405).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello\r\revent: endpoint\rdata: /messages?sessionId=1\r\r');
      // ...and nothing more until the client goes away.
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(
      () =>
        new Promise((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    const { port } = server.address() as AddressInfo;
    const found = await detectTransport(`http://127.0.0.1:${port}/sse`, {}, { timeoutMs: 1500 });
    expect(found.transport).toBe('sse');
  });

  it('names the URL (redacted), the answer and the way out when neither transport answers', async () => {
    const server = createServer((req, res) => {
      res.writeHead(req.method === 'POST' ? 403 : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/mcp?api_key=sekrit`;
    const err = await detectTransport(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportDetectionError);
    // What to do about a refusal depends on the credential (config headers or a login): the
    // probe run adds it from the status carried here.
    expect((err as Error).message).toMatch(/answered the initialize POST with 403$/);
    expect((err as TransportDetectionError).refusedStatus).toBe(403);
    expect((err as Error).message).not.toContain('sekrit');
  });
});

describe('resolveTransport', () => {
  it('keeps a configured transport, and remembers what auto found so the next run asks nobody', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'detect-transport-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = await openStore(`sqlite:${join(dir, 'probe.db')}`);
    cleanups.push(() => store.close());
    await store.migrate();
    const upstream = await upstreams.startLegacy();
    const config = { id: 'legacy', url: upstream.url, transport: 'auto' };
    await store.upsertUpstreams([
      {
        id: 'legacy',
        name: 'legacy',
        url: upstream.url,
        transport: 'auto',
        stateless: null,
        validatesSessionIds: null,
      },
    ]);

    expect(await resolveTransport({ ...config, transport: 'streamable-http' }, store)).toEqual({
      transport: 'streamable-http',
      evidence: 'configured',
    });
    expect((await resolveTransport(config, store)).transport).toBe('sse');
    expect((await store.listUpstreams())[0]!.transport).toBe('sse');
    // Restarting with the same config (transport auto) keeps what was detected.
    await store.upsertUpstreams([
      {
        id: 'legacy',
        name: 'legacy',
        url: upstream.url,
        transport: 'auto',
        stateless: null,
        validatesSessionIds: null,
      },
    ]);
    expect((await store.listUpstreams())[0]!.transport).toBe('sse');
    await upstream.close();
    expect(await resolveTransport(config, store)).toEqual({
      transport: 'sse',
      evidence: 'detected earlier (store)',
    });
  });
});
