// `serve`: the probe's Hono app (src/app.ts) on a node:http server, with a bounded graceful close.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { buildProbeApp, type ProbeApp, type ProbeAppOptions } from './app.js';

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
  const server = createServer(getRequestListener(probe.app.fetch));
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

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
  const close = () => {
    closing ??= (async () => {
      const grace = config.server.shutdownGraceSeconds * 1000;
      await new Promise<void>((resolve) => {
        // Requests that finish during the grace period leave keep-alive connections behind,
        // which would hold server.close() for the whole grace: close them as they go idle.
        const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
        idleSweep.unref();
        const timer = setTimeout(() => {
          clearInterval(idleSweep);
          server.closeAllConnections();
          resolve();
        }, grace);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          clearInterval(idleSweep);
          resolve();
        });
        server.closeIdleConnections();
        // Standalone GET streams never finish by themselves: end them so clients reconnect elsewhere.
        probe.endStreams();
      });
      await probe.close();
    })();
    return closing;
  };

  return { ...probe, url, port, server, close };
}
