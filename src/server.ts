import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { adminAuth } from './api/auth.js';
import { dashboard } from './api/dashboard/index.js';
import { adminApi } from './api/index.js';
import { probeApi } from './api/probes.js';
import { reportApi } from './api/report.js';
import type { Config, UpstreamConfig } from './config/schema.js';
import type { DemoUpstream } from './demo/upstream.js';
import { createLogger, type Logger } from './log.js';
import { ProbeRunner } from './probe/runner.js';
import type { ClientResponse, FastFront } from './proxy/h1server.js';
import {
  createFastProxyFront,
  createProxyHandler,
  createUpstreamRegistry,
  type ForwardContext,
  type ProxyHandler,
  type UpstreamRegistry,
} from './proxy/index.js';
import { createLegacySseHandlers } from './proxy/legacySse.js';
import { hashCaller } from './security/hash.js';
import { SessionTracker } from './sessions/tracker.js';
import { openStoreForUpstreams } from './store/index.js';
import { createRecorder, type Recorder, type RecorderOptions } from './store/recorder.js';
import { type Retention, startRetention } from './store/retention.js';
import type { ObservationStore } from './store/types.js';
import { metricsRoute, setupTelemetry, type Telemetry } from './telemetry/index.js';

export interface StartServerOptions {
  config: Config;
  logger?: Logger;
  /** Start the built-in demo upstream (also implied when the config lists no upstreams). */
  demo?: boolean;
  /** Idle timeout of the demo upstream's sessions. */
  demoIdleTimeoutMs?: number;
  /**
   * With the demo upstream, start one fanout probe of it at once (idle 5 s, 20 s, 45 s
   * against its 30 s timeout) so that a newcomer's dashboard fills within a minute.
   */
  demoProbe?: boolean;
  now?: () => number;
  /**
   * `false` keeps the tracker running (idle gaps, sessions, telemetry hooks) but discards
   * its observations instead of writing them to the store: the benchmark's "recording off".
   * A `RecordingSwitch` is read on every observation, so recording can be turned off and on
   * while the server runs: the benchmark lets each proxy process take both roles in turn.
   */
  recording?: boolean | RecordingSwitch;
  /** Recorder knobs (tests: a small queue shows drops without 100,000 requests). */
  recorder?: Pick<RecorderOptions, 'maxQueue' | 'flushIntervalMs' | 'maxBackoffMs'>;
  /** Telemetry to use; by default it is set up from the standard `OTEL_*` variables. */
  telemetry?: Telemetry;
}

/** Recording that can be turned off and on while the server runs (`StartServerOptions.recording`). */
export interface RecordingSwitch {
  on: boolean;
}

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  app: Hono;
  server: Server;
  /** The fast front for plain `/mcp/` requests (null with `server.fastHttp: false`). */
  front: FastFront<unknown> | null;
  store: ObservationStore;
  recorder: Recorder;
  tracker: SessionTracker;
  registry: UpstreamRegistry;
  logger: Logger;
  demo: DemoUpstream | null;
  telemetry: Telemetry;
  /** Active probe runs (/api/probes, config schedules). */
  probes: ProbeRunner;
  /** The probe started on the demo upstream at start (`demoProbe`), if any. */
  demoProbeId: string | null;
  /** Background pruning when `storage.retentionDays` is set. */
  retention: Retention | null;
  close(): Promise<void>;
}

export const DEMO_UPSTREAM_ID = 'demo';

/** Wires config → store → recorder → tracker → proxy + admin API, and listens. */
export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger();
  let config = opts.config;
  let demo: DemoUpstream | null = null;
  if (opts.demo || config.upstreams.length === 0) {
    const { startDemoUpstream } = await import('./demo/upstream.js');
    demo = await startDemoUpstream({ idleTimeoutMs: opts.demoIdleTimeoutMs ?? 30_000 });
    const demoUpstream: UpstreamConfig = {
      id: DEMO_UPSTREAM_ID,
      name: 'Built-in demo (sessions expire after 30 s idle)',
      url: demo.url,
      transport: 'streamable-http',
      headers: {},
      timeoutSeconds: 60,
    };
    config = {
      ...config,
      upstreams: [...config.upstreams.filter((u) => u.id !== DEMO_UPSTREAM_ID), demoUpstream],
    };
  }

  // Before anything records: spans and metrics see every observation from the start.
  const telemetry = opts.telemetry ?? setupTelemetry({ upstreams: config.upstreams });
  const store = await openStoreForUpstreams(config.storage.url, config.upstreams);
  const recorder = createRecorder({ store, logger, ...opts.recorder });
  const retention =
    config.storage.retentionDays === undefined
      ? null
      : startRetention({ store, retentionDays: config.storage.retentionDays, now: opts.now, logger });
  const recordingSwitch = typeof opts.recording === 'object' ? opts.recording : null;
  const tracker = new SessionTracker({
    onObservation:
      opts.recording === false
        ? telemetry.onObservation
        : recordingSwitch
          ? (obs) => {
              if (recordingSwitch.on) recorder.record(obs);
              telemetry.onObservation(obs);
            }
          : (obs) => {
              recorder.record(obs);
              telemetry.onObservation(obs);
            },
    onExchange: telemetry.onExchange,
    // A session seen before this process started (or before it was evicted) goes on counting
    // from its stored row. Looked up after the current I/O, before any batch is written: the
    // row cannot hold this adoption's own counts yet.
    onAdopt:
      opts.recording === false
        ? undefined
        : (key, record) =>
            setImmediate(() => {
              // Whatever throws (a broken store, synchronously or not) ends up in the warning.
              Promise.resolve()
                .then(() => store.getSession(record.upstream, record.source, record.sessionHash))
                .then((row) => {
                  if (row) tracker.restore(key, record, row);
                })
                .catch((err: unknown) => logger.warn('could not look up an adopted session', { err }));
            }),
    now: opts.now,
    maxSessions: config.tracker.maxSessions,
    evictIdleAfterMs: config.tracker.evictIdleAfterSeconds * 1000,
  });
  for (const u of await store.listUpstreams())
    if (u.stateless !== null) tracker.setStateless(u.id, u.stateless);
  tracker.startSweeping();
  telemetry.watch({ recorderStats: () => recorder.stats(), trackerSize: () => tracker.size });

  const registry = createUpstreamRegistry(config.upstreams);
  const openStreams = new Set<ClientResponse>();
  const proxyContext: ForwardContext = {
    tracker,
    logger,
    maxBodyBytes: config.server.maxBodyBytes,
    openStreams,
    callerHash: (credential, address) =>
      credential ? hashCaller(credential) : address ? hashCaller(address) : null,
    extraRequestHeaders: telemetry.extraRequestHeaders,
    onStreamOpened: telemetry.onStreamOpened,
    injectMeta: config.telemetry.injectMeta,
  };
  const proxyOptions = {
    registry,
    context: proxyContext,
    legacy: createLegacySseHandlers({ registry, context: proxyContext }),
  };
  const proxy: ProxyHandler = createProxyHandler(proxyOptions);

  const app = new Hono();
  // Admin API, dashboard and /metrics: bearer token, or loopback only without one (docs/SECURITY.md).
  app.use('*', adminAuth({ token: config.admin.token, host: config.server.host }));
  app.route(
    '/',
    adminApi({
      store,
      health: () => ({ recorder: recorder.stats(), trackedSessions: tracker.size }),
    }),
  );
  app.route('/', reportApi({ store, config, now: opts.now }));
  // Probe observations go to the same store (source "probe") and the same telemetry.
  const probes = new ProbeRunner({
    upstreams: () => config.upstreams,
    record: (obs) => {
      if (opts.recording !== false && (recordingSwitch === null || recordingSwitch.on)) recorder.record(obs);
      telemetry.onObservation(obs);
    },
    store,
    logger,
    telemetry,
    now: opts.now,
  });
  probes.startSchedules();
  probes.startSweeping();
  let demoProbeId: string | null = null;
  if (demo && opts.demoProbe) {
    demoProbeId = probes.start({
      upstreams: [DEMO_UPSTREAM_ID],
      mode: 'fanout',
      intervalsSeconds: [5, 20, 45],
    }).id;
  }
  app.route('/', probeApi({ probes }));
  app.route('/', metricsRoute(telemetry));
  app.route(
    '/',
    dashboard({
      store,
      adminToken: config.admin.token,
      turnGapSeconds: config.analysis.turnGapSeconds,
      // The no-JavaScript probe form; the live form POSTs /api/probes itself.
      startProbe: async ({ upstream, mode, intervals }) =>
        probes.start({
          upstreams: [upstream],
          mode,
          intervalsSeconds: intervals.length ? intervals : undefined,
        }),
    }),
  );
  const honoListener = getRequestListener(app.fetch);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!proxy(req, res)) honoListener(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const front = config.server.fastHttp ? createFastProxyFront(server, proxyOptions) : null;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
        const closeIdle = () => {
          server.closeIdleConnections();
          front?.closeIdleConnections();
        };
        const idleSweep = setInterval(closeIdle, 50);
        idleSweep.unref();
        const timer = setTimeout(() => {
          clearInterval(idleSweep);
          server.closeAllConnections();
          front?.closeAllConnections();
          resolve();
        }, grace);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          clearInterval(idleSweep);
          resolve();
        });
        closeIdle();
        // Standalone GET streams never finish by themselves: end them so clients reconnect elsewhere.
        for (const res of openStreams) res.end();
      });
      front?.stop();
      tracker.stop();
      await probes.close();
      await recorder.close();
      await retention?.stop();
      await telemetry.shutdown();
      await store.close();
      await registry.close();
      await demo?.close();
    })();
    return closing;
  };

  return {
    url,
    port,
    config,
    app,
    server,
    front: front as FastFront<unknown> | null,
    store,
    recorder,
    tracker,
    registry,
    logger,
    demo,
    telemetry,
    probes,
    demoProbeId,
    retention,
    close,
  };
}
