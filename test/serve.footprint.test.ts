// What a `serve` process loads when it only proxies. Modules stay in the heap for the life of
// the process and every full GC marks them, so two large parts load only when used:
// - the MCP SDK's client (about 2 MB with its protocol schemas), which the prober's legacy
//   HTTP+SSE wire needs: imported when a probe meets an HTTP+SSE upstream
//   (test/probe.legacySse.e2e.test.ts probes one);
// - sdk-node's environment readers and every exporter they pull in (about 1 MB): required when
//   OTEL_* asks for an export (test/telemetry.e2e.test.ts exports over OTLP).
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
  it('proxies and serves the API and /metrics without loading the MCP SDK or the OTel exporters', async () => {
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
        // Nothing to export, whatever the environment running the tests says.
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
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
    expect(await (await fetch(`${serve.url}/metrics`)).text()).toContain('mcp_client_operation_duration');

    const loaded = readFileSync(log, 'utf8').split('\n');
    // The hook saw the process's own modules, ES and CommonJS...
    expect(loaded.some((u) => u.endsWith('/src/server.ts'))).toBe(true);
    expect(loaded.some((u) => u.includes('/node_modules/undici/lib/'))).toBe(true);
    expect(loaded.some((u) => u.includes('/node_modules/@opentelemetry/sdk-metrics/'))).toBe(true);
    // ...and none of these.
    expect(loaded.filter((u) => u.includes('/@modelcontextprotocol/sdk/'))).toEqual([]);
    expect(
      loaded.filter((u) => /\/@opentelemetry\/(sdk-node|exporter-(trace|metrics)-otlp)/.test(u)),
    ).toEqual([]);
    // With SQLite as the store, the PostgreSQL driver stays unloaded.
    expect(loaded.filter((u) => /\/node_modules\/(pg|pg-pool|pg-protocol)\//.test(u))).toEqual([]);
  });
});
