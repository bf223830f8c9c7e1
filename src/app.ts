// The whole product as one Hono app: proxy routes, admin API, /metrics, /healthz and the
// dashboard, wired to one store, recorder, tracker and telemetry. `serve` listens with it
// (src/server.ts); a host application mounts it (`host.route('/gateway', probe.app)`).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { adminAuth } from './api/auth.js';
import { dashboard } from './api/dashboard/index.js';
import { adminApi } from './api/index.js';
import { probeApi } from './api/probes.js';
import { reportApi } from './api/report.js';
import { watchCredentials } from './auth/credentialWatch.js';
import { applyCliOverrides, parseConfig } from './config/load.js';
import type { Config, UpstreamConfig } from './config/schema.js';
import type { DemoUpstream } from './demo/upstream.js';
import { Healer } from './heal/healer.js';
import { resolveHealKey } from './heal/healKey.js';
import { type ShutdownParts, shutdown } from './lifecycle/shutdown.js';
import { createLogger, type Logger } from './log.js';
import { ProbeRunner } from './probe/runner.js';
import { passiveWindowFrom } from './probe/searchHint.js';
import {
  createUpstreamRegistry,
  directMcpRoute,
  type ForwardContext,
  proxyRoutes,
  type UpstreamRegistry,
} from './proxy/index.js';
import { createLegacySseHandlers } from './proxy/legacySse.js';
import { createBodyBudget } from './proxy/requestBody.js';
import { hashCaller } from './security/hash.js';
import { SessionTracker } from './sessions/tracker.js';
import { openStoreForUpstreams } from './store/index.js';
import { openStoreProcess, storeProcessViews } from './store/process/index.js';
import { createRecorder, type Recorder, type RecorderOptions } from './store/recorder.js';
import { type Retention, startRetention } from './store/retention.js';
import type { ObservationStore } from './store/types.js';
import { metricsRoute, setupTelemetry, type Telemetry } from './telemetry/index.js';

export const DEMO_UPSTREAM_ID = 'demo';

/** How long an adopted session's first exchange waits for its stored history before it is recorded without. */
const ADOPTION_LOOKUP_MS = 2_000;
/** A second look for an adopted session's row, after a few of the other replica's flush intervals. */
const ADOPTION_RETRY_MS = 250;
/** With a shared store, a session idle this long here is looked up again before its next exchange is recorded. */
const REPLICA_RECHECK_IDLE_MS = 1_000;

/** What `createMcpSessionProbe` takes: a config document as a config file holds it. */
export interface McpSessionProbeOptions {
  /** The config (JSON/YAML document shape; `${ENV_VAR}` interpolated, validated with clear errors). */
  config: unknown;
  /** Where observations go: a SQLite file path or a storage URL; overrides `storage.url`. */
  db?: string;
  logger?: Logger;
}

/** The probe's parts as built from a validated config (`serve` and tests use them directly). */
export interface ProbeAppOptions {
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
  /** Recorder knobs (tests: a small queue shows drops without 100,000 requests). */
  recorder?: Pick<RecorderOptions, 'maxQueue' | 'flushIntervalMs' | 'maxBackoffMs'>;
  /** Telemetry to use; by default it is set up from the standard `OTEL_*` variables. */
  telemetry?: Telemetry;
  /**
   * Run the store in a child process (`serve` does): no store fault (a SIGBUS from SQLite's
   * memory-mapped WAL index) can end the forwarding process, and the heavy admin reads run
   * there. Default false: an embedding process keeps its store in process.
   */
  storeProcess?: boolean;
}

export interface McpSessionProbe {
  /** Every route: mount it (`host.route('/x', app)`) or serve it with `@hono/node-server`. */
  app: Hono<{ Bindings: HttpBindings }>;
  /** Ends held streams, flushes the recorder and telemetry, closes the store and upstream pools. */
  close(): Promise<void>;
}

export interface ProbeApp extends McpSessionProbe {
  /**
   * For a `node:http` server serving `app` at its root: forwards a plain `/mcp/<id>` request
   * directly, as `app` would, and returns true; false for every other request (give it to `app`).
   */
  directMcpRoute: (req: IncomingMessage, res: ServerResponse) => boolean;
  config: Config;
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
  /** Ends every open standalone GET stream (shutdown: clients reconnect elsewhere). */
  endStreams(): void;
  /** What `close` shuts down, for a server that drains its connections first (src/server.ts). */
  shutdownParts: ShutdownParts;
}

/**
 * The library entry point: `await createMcpSessionProbe({ config, db })` → `{ app, close }`.
 * The proxy routes forward from Node's own request and response, so serve `app` (or the host
 * app it is mounted in) with `@hono/node-server`.
 */
export async function createMcpSessionProbe({
  config,
  db,
  logger,
}: McpSessionProbeOptions): Promise<McpSessionProbe> {
  const parsed = applyCliOverrides(parseConfig(config), { db });
  const built = await buildProbeApp({ config: parsed, logger });
  return { app: built.app, close: built.close };
}

/** Wires config → store → recorder → tracker → proxy routes + admin API + dashboard. */
export async function buildProbeApp(opts: ProbeAppOptions): Promise<ProbeApp> {
  const logger = opts.logger ?? createLogger();
  let config = opts.config;
  let demo: DemoUpstream | null = null;
  if (opts.demo || config.upstreams.length === 0) {
    const { startDemoUpstream } = await import('./demo/upstream.js');
    // Both eras on one URL (docs/eras.md): 2025 sessions idling out, and 2026 requests.
    demo = await startDemoUpstream({ idleTimeoutMs: opts.demoIdleTimeoutMs ?? 30_000, sessionless: true });
    const demoUpstream: UpstreamConfig = {
      id: DEMO_UPSTREAM_ID,
      name: 'Built-in demo (2025 sessions expire after 30 s idle; 2026 requests sessionless)',
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
  const isolated = opts.storeProcess
    ? await openStoreProcess({ url: config.storage.url, upstreams: config.upstreams, logger })
    : null;
  const store =
    isolated ??
    (await openStoreForUpstreams(config.storage.url, config.upstreams, {
      // A PostgreSQL connection cut while idle (a restart, a failover): the pool reconnects on next use.
      onConnectionError: (err) => logger.warn('storage: PostgreSQL connection lost; will reconnect', { err }),
    }));
  const views = isolated ? storeProcessViews(isolated, config, opts.now) : null;
  const recorder = createRecorder({ store, logger, ...opts.recorder });
  const retention =
    config.storage.retentionDays === undefined
      ? null
      : startRetention({ store, retentionDays: config.storage.retentionDays, now: opts.now, logger });
  const tracker = new SessionTracker({
    onObservation: (obs) => {
      recorder.record(obs);
      telemetry.onObservation(obs);
    },
    onExchange: telemetry.onExchange,
    // A session seen before this process started, before it was evicted, or by another replica
    // (a failover, a load balancer without affinity) goes on from its stored row: its count, its
    // opening, and the true idle gap of the first exchange here, which waits for the answer (at most
    // ADOPTION_LOOKUP_MS). Looked up after the current I/O, before any batch is written: the row
    // cannot hold this adoption's own counts yet.
    onAdopt: (key, record) =>
      setImmediate(() => {
        let answered = false;
        const answer = (row: Awaited<ReturnType<ObservationStore['getSession']>>) => {
          if (answered) return;
          answered = true;
          clearTimeout(timer);
          tracker.restore(key, record, row);
        };
        const timer = setTimeout(() => {
          logger.warn('storage: no answer about an adopted session in time; recorded without its history', {
            timeoutMs: ADOPTION_LOOKUP_MS,
          });
          answer(null);
        }, ADOPTION_LOOKUP_MS);
        timer.unref();
        const lookup = () => store.getSession(record.upstream, record.source, record.sessionHash);
        // Whatever throws (a broken store, synchronously or not) ends up in the warning. No row yet
        // on a shared store: look once more a little later, after the replica that opened it (a load
        // balancer hashing on Mcp-Session-Id sends the initialize anywhere) has written its batch.
        Promise.resolve()
          .then(lookup)
          .then((row) =>
            row !== null || store.kind !== 'postgres'
              ? row
              : new Promise<null>((r) => setTimeout(() => r(null), ADOPTION_RETRY_MS)).then(lookup),
          )
          .then(answer, (err: unknown) => {
            logger.warn('could not look up an adopted session', { err });
            answer(null);
          });
      }),
    // Replicas (PostgreSQL): a session idle here for a while may have been used on another replica.
    recheckIdleAfterMs: store.kind === 'postgres' ? REPLICA_RECHECK_IDLE_MS : undefined,
    now: opts.now,
    maxSessions: config.tracker.maxSessions,
    evictIdleAfterMs: config.tracker.evictIdleAfterSeconds * 1000,
  });
  for (const u of await store.listUpstreams())
    if (u.stateless !== null) tracker.setStateless(u.id, u.stateless);
  tracker.startSweeping();

  const registry = createUpstreamRegistry(config.upstreams);
  const healing = config.upstreams.filter((u) => u.heal).map((u) => u.id);
  const healer =
    healing.length > 0
      ? new Healer({ key: await resolveHealKey(config.server.healKey), upstreams: healing })
      : undefined;
  telemetry.watch({
    recorderStats: () => recorder.stats(),
    trackerSize: () => tracker.size,
    proxyRejections: () => registry.rejections(),
    heals: healer ? () => healer.stats() : undefined,
  });
  const openStreams = new Set<ServerResponse>();
  const proxyContext: ForwardContext = {
    tracker,
    logger,
    body: {
      maxBodyBytes: config.server.maxBodyBytes,
      budget: createBodyBudget(config.server.maxBufferedBodyBytes),
      timeoutMs: config.server.bodyTimeoutSeconds * 1000,
    },
    openStreams,
    callerHash: (credential, address) =>
      credential ? hashCaller(credential) : address ? hashCaller(address) : null,
    extraRequestHeaders: telemetry.extraRequestHeaders,
    onStreamOpened: telemetry.onStreamOpened,
    injectMeta: config.telemetry.injectMeta,
    credentialWatch: await watchCredentials(store, logger, opts.now),
    healer,
  };

  const app = new Hono<{ Bindings: HttpBindings }>();
  // The proxy routes come first and answer without calling on: agents bring their own upstream
  // credentials, so the admin guard below never applies to them.
  const legacy = createLegacySseHandlers({ registry, context: proxyContext });
  app.route(
    '/',
    proxyRoutes({
      registry,
      context: proxyContext,
      legacy,
    }),
  );
  // Admin API, dashboard and /metrics: bearer token, or loopback only without one (docs/SECURITY.md).
  app.use('*', adminAuth({ token: config.admin.token, host: config.server.host }));
  app.route(
    '/',
    adminApi({
      store,
      health: () => {
        const stats = recorder.stats();
        // The proxy forwards either way; while the store fails, observations wait in memory (bounded).
        return {
          ...(stats.failing ? { status: 'degraded' } : {}),
          recorder: stats,
          trackedSessions: tracker.size,
        };
      },
    }),
  );
  app.route('/', reportApi({ store, config, now: opts.now, source: views?.reports }));
  // Probe observations go to the same store (source "probe") and the same telemetry.
  const probes = new ProbeRunner({
    upstreams: () => config.upstreams,
    record: (obs) => {
      recorder.record(obs);
      telemetry.onObservation(obs);
    },
    store,
    passiveWindow: passiveWindowFrom(store),
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
      pages: views?.pages,
      // The run page shows a running probe live, a finished one from the store.
      probeRun: (id) => probes.get(id),
      // The no-JavaScript probe form; the live form POSTs /api/probes itself.
      startProbe: async ({ upstream, mode, intervals }) =>
        probes.start({
          upstreams: [upstream],
          mode,
          intervalsSeconds: intervals.length ? intervals : undefined,
        }),
    }),
  );

  const endStreams = () => {
    for (const res of openStreams) res.end();
  };
  // Each part within what is left of the grace (src/lifecycle/shutdown.ts).
  const shutdownParts: ShutdownParts = {
    endStreams,
    stopProducers: async () => {
      tracker.stop();
      await probes.close();
    },
    flushRecorder: () => recorder.close(),
    stopTelemetry: () => telemetry.shutdown(),
    closeStore: async () => {
      await retention?.stop();
      await store.close();
    },
    abandonStore: () => isolated?.kill(),
    closeRest: async () => {
      await registry.close();
      await demo?.close();
    },
  };
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= shutdown(shutdownParts, { graceMs: config.server.shutdownGraceSeconds * 1000, logger });
    return closing;
  };

  return {
    app,
    directMcpRoute: directMcpRoute({ registry, context: proxyContext }),
    close,
    endStreams,
    shutdownParts,
    config,
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
  };
}
