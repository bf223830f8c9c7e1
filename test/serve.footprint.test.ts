// What a `serve` process loads before any probe runs. The prober's legacy HTTP+SSE wire needs
// the MCP SDK's client, whose protocol schemas hold about 2 MB of heap for the life of the
// process (and every full GC marks them): it is imported when a probe meets an HTTP+SSE
// upstream, not at start-up. (That the legacy probe still works is test/probe.legacySse.e2e.test.ts.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, writeConfig } from './helpers/cli.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('serve start-up footprint', () => {
  it('proxies and serves the API without loading the MCP SDK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-footprint-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'modules.log');
    const configPath = writeConfig(dir, {
      upstreams: [{ id: 'up', url: 'http://127.0.0.1:9/mcp' }],
      server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
      storage: { url: `sqlite:${join(dir, 'probe.db')}` },
    });
    const serve = await startServe(configPath, {
      env: {
        MODULE_LOG: log,
        NODE_OPTIONS: `--import ${join(import.meta.dirname, 'helpers', 'moduleLog.mjs')}`,
      },
    });
    cleanups.push(async () => {
      serve.child.kill('SIGTERM');
      await serve.exited;
    });
    // Touch the proxy route (the upstream is unreachable: a 502 from the proxy) and the API.
    const proxied = await fetch(`${serve.url}/mcp/up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(proxied.status).toBe(502);
    expect((await fetch(`${serve.url}/api/upstreams`)).status).toBe(200);

    const loaded = readFileSync(log, 'utf8').split('\n');
    // The hook saw the process's own imports (undici, hono, the server)...
    expect(loaded.some((u) => u.includes('/node_modules/undici/'))).toBe(true);
    expect(loaded.some((u) => u.endsWith('/src/server.ts'))).toBe(true);
    // ...and none of the SDK.
    expect(loaded.filter((u) => u.includes('/@modelcontextprotocol/sdk/'))).toEqual([]);
  });
});
