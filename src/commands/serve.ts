import { parseArgs } from 'node:util';
import { applyCliOverrides, defaultConfig, loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { DEMO_UPSTREAM_ID, type RunningServer, startServer } from '../server.js';

/** The admin token when the config sets none (e.g. `docker run -e MCP_PROBE_ADMIN_TOKEN=...`). */
export const ADMIN_TOKEN_ENV = 'MCP_PROBE_ADMIN_TOKEN';

export const SERVE_USAGE = `Usage: mcp-session-probe serve [--config FILE] [--port 8787] [--host 127.0.0.1] [--db PATH] [--demo]

Runs the proxy (/mcp/<upstream>), the admin API (/api), the dashboard (/) and scheduled probes.
With no config (no --config, no MCP_PROBE_CONFIG) it starts a built-in demo upstream.
MCP_PROBE_ADMIN_TOKEN sets the admin token when the config has none: without a token the
admin API and the dashboard answer loopback clients only.`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      db: { type: 'string' },
      demo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  const logger = createLogger();
  // Caught from the start: a signal that arrives while the server starts stops it once it has
  // started, instead of killing it half-way (a supervisor may stop what it just started).
  let early: NodeJS.Signals | null = null;
  let onSignal: ((signal: NodeJS.Signals) => void) | null = null;
  const signalled = (signal: NodeJS.Signals) => {
    if (onSignal) onSignal(signal);
    else early ??= signal;
  };
  process.on('SIGINT', signalled);
  process.on('SIGTERM', signalled);
  const fileConfig = await loadConfig({ path: values.config });
  const overridden = applyCliOverrides(fileConfig ?? defaultConfig(), {
    port: values.port,
    host: values.host,
    db: values.db,
  });
  // With no config file (the demo, a container) the token can still come from the environment.
  const envToken = process.env[ADMIN_TOKEN_ENV]?.trim();
  const config =
    overridden.admin.token === undefined && envToken
      ? { ...overridden, admin: { ...overridden.admin, token: envToken } }
      : overridden;
  const running = await startServer({
    config,
    logger,
    demo: values.demo || fileConfig === null,
    demoProbe: true,
    // The store in its own process unless told otherwise (docs/operations.md).
    storeProcess: process.env['MCP_PROBE_STORE_PROCESS'] !== 'off',
  });

  const ids = running.config.upstreams.map((u) => u.id);
  if (process.env['MCP_PROBE_LOG_FORMAT'] === 'json') {
    // Log collectors read one JSON object per line: the banner becomes one such line.
    const routes: Record<string, string> = {};
    for (const id of ids) routes[`proxy.${id}`] = `${running.url}/mcp/${id}`;
    logger.info(`mcp-session-probe listening on ${running.url}`, {
      ...routes,
      dashboard: `${running.url}/`,
      demo: running.demo !== null,
      ...(running.demoProbeId ? { demoProbe: `${running.url}/api/probes/${running.demoProbeId}` } : {}),
    });
  } else process.stderr.write(banner(running, ids));
  if (config.admin.token === undefined && !isLoopback(config.server.host)) {
    logger.warn(
      `listening on ${config.server.host} without an admin token: the admin API and the dashboard answer loopback clients only; set ${ADMIN_TOKEN_ENV} (or admin.token) to reach them from elsewhere`,
    );
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn(`second ${signal}: exiting now`);
        process.exit(130);
      }
      stopping = true;
      logger.info(`${signal} received: finishing in-flight requests, flushing the store`);
      // Each part of the shutdown keeps within the grace (src/lifecycle/shutdown.ts); this is the
      // backstop for one that blocks the event loop instead of taking time.
      const graceMs = running.config.server.shutdownGraceSeconds * 1000;
      setTimeout(() => {
        logger.error('shutdown took longer than the grace period; exiting now');
        process.exit(1);
      }, graceMs + 1000).unref();
      const exit = (code: number) => {
        resolve(code);
        // A part left behind out of time (an export to an unreachable collector) may still hold
        // a socket open: exit once the exit code is set rather than wait for it.
        setTimeout(() => process.exit(code), 100).unref();
      };
      running.close().then(
        () => exit(0),
        (err) => {
          logger.error('shutdown failed', { err });
          exit(1);
        },
      );
    };
    onSignal = stop;
    if (early) stop(early);
  });
}

function banner(running: RunningServer, ids: string[]): string {
  const lines = [
    '',
    `mcp-session-probe listening on ${running.url}`,
    '',
    ...ids.map(
      (id) =>
        `  proxy     ${running.url}/mcp/${id}${id === DEMO_UPSTREAM_ID ? '   (built-in demo: 2025 sessions expire after 30 s idle; 2026 requests are sessionless)' : ''}`,
    ),
    `  dashboard ${running.url}/`,
    `  api       ${running.url}/api/report   ${running.url}/api/sessions   ${running.url}/api/expirations`,
    `  metrics   ${running.url}/metrics   health ${running.url}/healthz`,
    '',
  ];
  if (running.demo) {
    lines.push(
      'No config given, so a demo upstream is running.',
      running.demoProbeId
        ? `A probe of it is running now (idle 5 s, 20 s and 45 s against its 30 s timeout; ~50 s): ${running.url}/upstreams/${DEMO_UPSTREAM_ID}`
        : '',
      'Try it with your own client:',
      `  npx @modelcontextprotocol/inspector --transport http --server-url ${running.url}/mcp/${DEMO_UPSTREAM_ID}`,
      '  or point any MCP client (Claude Code, Cursor, VS Code) at the proxy URL above,',
      '  wait more than 30 s between calls, then look at /api/expirations.',
      'Use --config FILE (see examples/config.example.yaml) for your real servers.',
      '',
    );
  }
  return lines.join('\n') + '\n';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
