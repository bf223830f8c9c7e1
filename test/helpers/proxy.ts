import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/load.js';
import type { Config, UpstreamConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { type RunningServer, type StartServerOptions, startServer } from '../../src/server.js';

export interface TestProxy extends RunningServer {
  dbPath: string;
  mcpUrl(upstream: string): string;
  /** Wait until everything recorded so far is in the store. */
  flush(): Promise<void>;
  cleanup(): Promise<void>;
}

export function upstreamConfig(id: string, url: string, extra: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return { id, name: id, url, transport: 'streamable-http', headers: {}, timeoutSeconds: 60, ...extra };
}

/** Starts the real serve stack on a free loopback port with a fresh SQLite file. */
export async function startTestProxy(
  upstreams: UpstreamConfig[],
  overrides: {
    dbPath?: string;
    config?: Partial<Config>;
    recorder?: StartServerOptions['recorder'];
    telemetry?: StartServerOptions['telemetry'];
  } = {},
): Promise<TestProxy> {
  const dir = overrides.dbPath ? null : mkdtempSync(join(tmpdir(), 'mcp-probe-test-'));
  const dbPath = overrides.dbPath ?? join(dir!, 'probe.db');
  const base = defaultConfig();
  const config: Config = {
    ...base,
    ...overrides.config,
    upstreams,
    server: {
      ...base.server,
      shutdownGraceSeconds: 1,
      ...overrides.config?.server,
      // Last, so an override built from defaultConfig().server cannot bring back port 8787:
      // tests must pass beside a running `npm start`.
      port: 0,
      host: '127.0.0.1',
    },
    storage: { url: `sqlite:${dbPath}` },
  };
  const running = await startServer({
    config,
    logger: silentLogger,
    recorder: overrides.recorder,
    telemetry: overrides.telemetry,
  });
  return {
    ...running,
    dbPath,
    mcpUrl: (upstream) => `${running.url}/mcp/${upstream}`,
    flush: () => running.recorder.flush(),
    cleanup: async () => {
      await running.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A loopback port nothing listens on, for "unreachable upstream" cases. Not a port freed by
 * closing a server: with ~40 test files in parallel, another file's server can be given that
 * port a moment later (a CI run got a 404 instead of a 502). `listen(0)` never hands out a port
 * below 1024 (ip_local_port_range), so port 1 stays refused.
 */
export const REFUSED_PORT = 1;
