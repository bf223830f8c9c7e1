// `serve`: the probe's Hono app (src/app.ts) on a node:http server, drained and closed within the grace.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { buildProbeApp, type ProbeApp, type ProbeAppOptions } from './app.js';
import { drainable } from './lifecycle/drain.js';
import { shutdown } from './lifecycle/shutdown.js';

export { DEMO_UPSTREAM_ID } from './app.js';

export type StartServerOptions = ProbeAppOptions;

export interface RunningServer extends ProbeApp {
  url: string;
  port: number;
  server: Server;
}

/** Builds the app and listens on `config.server.host`/`port`. */
export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const probe = await buildProbeApp(opts);
  const { config } = probe;
  const appListener = getRequestListener(probe.app.fetch);
  const { directMcpRoute } = probe;
  const server = createServer((req, res) => {
    if (!directMcpRoute(req, res)) void appListener(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Before listening: draining needs every connection (src/lifecycle/drain.ts).
  const drain = drainable(server);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.server.port, config.server.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await probe.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | null = null;
  // Drain first (no request reset), then the app's parts, all within the grace.
  const close = () => {
    closing ??= shutdown(
      { ...probe.shutdownParts, drain },
      { graceMs: config.server.shutdownGraceSeconds * 1000, logger: probe.logger },
    );
    return closing;
  };

  return { ...probe, url, port, server, close };
}
