// Probe runs started from the admin API or a config schedule: a bounded number at once,
// their live results and events in memory while they run, everything in the store after.
import type { ProbeMode, UpstreamConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Observation } from '../sessions/types.js';
import type { ObservationStore, ProbeRunRow } from '../store/types.js';
import type { Telemetry } from '../telemetry/setup.js';
import type { ProbeEvent, ProbeResult } from './result.js';
import { PROBE_HEARTBEAT_MS, PROBE_STALE_AFTER_MS, type ProbeRun, startProbeRun } from './run.js';
import type { SearchHint } from './searchHint.js';

export interface ProbeRequest {
  upstreams: string[];
  mode?: ProbeMode;
  intervalsSeconds?: number[];
  holdStream?: boolean;
  keepaliveSeconds?: number | null;
  timeoutSeconds?: number | null;
  budget?: number;
  minWindowSeconds?: number;
  maxIdleSeconds?: number;
}

export class UnknownUpstreamError extends Error {
  override readonly name = 'UnknownUpstreamError';
}
export class ProbeLimitError extends Error {
  override readonly name = 'ProbeLimitError';
}

export interface ProbeRunnerOptions {
  upstreams: () => readonly UpstreamConfig[];
  record: (obs: Observation) => void;
  store: Pick<
    ObservationStore,
    | 'saveProbeRun'
    | 'getProbeRun'
    | 'listProbeRuns'
    | 'setUpstreamFlags'
    | 'failInterruptedProbeRuns'
    | 'claimScheduledProbe'
    | 'requestProbeCancel'
    | 'listProbeCancelRequests'
  >;
  /** Where a `search` starts for an upstream: its current window (searchHint.ts). */
  passiveWindow?: ((upstream: string) => Promise<SearchHint | null>) | null;
  /** Runs at once; a start beyond it fails with ProbeLimitError (HTTP 429). Default 4. */
  maxConcurrent?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** Probe spans and exchange metrics (observations reach telemetry through `record`). */
  telemetry?: Pick<Telemetry, 'probeRun' | 'onExchange'> | null;
  now?: () => number;
}

type Listener = (event: ProbeEvent) => void;

interface LiveRun {
  run: ProbeRun;
  upstreams: string[];
  events: ProbeEvent[];
  listeners: Set<Listener>;
}

/** How often a process running probes looks for cancels asked through the store. */
export const CANCEL_POLL_MS = 1_000;

/** Finished runs kept in memory for event replay; older ones are read from the store. */
const KEEP_FINISHED = 20;

export class ProbeRunner {
  private readonly live = new Map<string, LiveRun>();
  private readonly finished: string[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly maxConcurrent: number;
  private closed = false;

  constructor(private readonly opts: ProbeRunnerOptions) {
    this.maxConcurrent = opts.maxConcurrent ?? 4;
  }

  get running(): number {
    let n = 0;
    for (const l of this.live.values()) if (l.run.result.status === 'running') n++;
    return n;
  }

  /** Starts a run; throws UnknownUpstreamError or ProbeLimitError. */
  start(req: ProbeRequest): ProbeResult {
    if (this.closed) throw new ProbeLimitError('probe runner is shutting down');
    const configured = this.opts.upstreams();
    const targets = req.upstreams.map((id) => {
      const u = configured.find((c) => c.id === id);
      if (!u) {
        throw new UnknownUpstreamError(
          `unknown upstream "${id}"; configured: ${configured.map((c) => c.id).join(', ') || '(none)'}`,
        );
      }
      return u;
    });
    if (this.running >= this.maxConcurrent) {
      throw new ProbeLimitError(
        `${this.running} probe runs are already running (limit ${this.maxConcurrent}); wait for one to finish or cancel one with DELETE /api/probes/:id`,
      );
    }
    const entry: LiveRun = {
      run: null as unknown as ProbeRun,
      upstreams: req.upstreams,
      events: [],
      listeners: new Set(),
    };
    entry.run = startProbeRun({
      upstreams: targets,
      // No mode and no intervals: `search` (run.ts chooseProbeMode).
      mode: req.mode,
      intervalsSeconds: req.intervalsSeconds,
      maxIdleSeconds: req.maxIdleSeconds,
      passiveWindow: this.opts.passiveWindow ?? null,
      holdStream: req.holdStream ?? false,
      keepaliveSeconds: req.keepaliveSeconds ?? null,
      timeoutSeconds: req.timeoutSeconds ?? null,
      bisect: { budget: req.budget, minWindowSeconds: req.minWindowSeconds },
      record: this.opts.record,
      store: this.opts.store,
      telemetry: this.opts.telemetry,
      now: this.opts.now,
      onEvent: (event) => {
        entry.events.push(event);
        for (const l of entry.listeners) l(event);
      },
    });
    this.live.set(entry.run.id, entry);
    void entry.run.done.then(
      () => this.retire(entry.run.id),
      (err) => {
        this.opts.logger?.warn('probe run failed', { id: entry.run.id, err });
        this.retire(entry.run.id);
      },
    );
    return entry.run.result;
  }

  private retire(id: string): void {
    this.finished.push(id);
    while (this.finished.length > KEEP_FINISHED) this.live.delete(this.finished.shift()!);
  }

  /** The live result, or the stored one. */
  async get(id: string): Promise<ProbeResult | null> {
    const l = this.live.get(id);
    if (l) return l.run.result;
    const row = await this.opts.store.getProbeRun(id);
    return row ? resultOfRow(row) : null;
  }

  async list(limit = 20, upstream?: string): Promise<ProbeResult[]> {
    const rows = await this.opts.store.listProbeRuns({ limit, upstream });
    return rows.map((row) => this.live.get(row.id)?.run.result ?? resultOfRow(row));
  }

  cancel(id: string): boolean {
    const l = this.live.get(id);
    if (!l || l.run.result.status !== 'running') return false;
    l.run.cancel();
    return true;
  }

  /**
   * Cancels a run here, or asks the process running it (another replica, a CLI probe) through the
   * store: it looks every `CANCEL_POLL_MS`. False when no such run is running anywhere.
   */
  async cancelAnywhere(id: string): Promise<boolean> {
    if (this.cancel(id)) return true;
    if (this.live.has(id)) return false;
    return this.opts.store.requestProbeCancel(id, this.now());
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Past events, then live ones until `run-done`; null when the run is not in memory. */
  subscribe(
    id: string,
    listener: Listener,
  ): { past: ProbeEvent[]; done: boolean; unsubscribe(): void } | null {
    const l = this.live.get(id);
    if (!l) return null;
    const done = l.events.some((e) => e.type === 'run-done');
    if (!done) l.listeners.add(listener);
    return { past: [...l.events], done, unsubscribe: () => l.listeners.delete(listener) };
  }

  /** Starts the `probe: { every, mode, intervals }` schedules from the config. */
  startSchedules(): void {
    for (const u of this.opts.upstreams()) {
      const schedule = u.probe;
      if (!schedule) continue;
      const timer = setInterval(async () => {
        const busy = [...this.live.values()].some(
          (l) => l.run.result.status === 'running' && l.upstreams.includes(u.id),
        );
        if (busy || this.closed) return;
        try {
          // Replicas sharing the store each have this timer: the one that claims the period runs it.
          if (!(await this.opts.store.claimScheduledProbe(u.id, this.now(), schedule.everyMs))) return;
          if (this.closed) return;
          const r = this.start({
            upstreams: [u.id],
            mode: schedule.mode,
            intervalsSeconds: schedule.intervals,
          });
          this.opts.logger?.info('scheduled probe started', { upstream: u.id, id: r.id, mode: r.mode });
        } catch (err) {
          this.opts.logger?.warn('scheduled probe skipped', { upstream: u.id, err });
        }
      }, schedule.everyMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /**
   * Marks runs left `running` by a process that died (this one before a crash, or a CLI probe
   * killed with -9) as `failed`, now and every heartbeat, so that the API, the dashboard and
   * the report stop showing them as running.
   */
  startSweeping(): void {
    const sweep = () =>
      void failInterruptedRuns(this.opts.store, this.opts.now?.() ?? Date.now(), this.opts.logger);
    sweep();
    const timer = setInterval(sweep, PROBE_HEARTBEAT_MS);
    timer.unref();
    this.timers.push(timer);
    const cancels = setInterval(() => void this.applyCancelRequests(), CANCEL_POLL_MS);
    cancels.unref();
    this.timers.push(cancels);
  }

  /** Cancels the runs here that another process asked to cancel (`cancelAnywhere`). Never throws. */
  async applyCancelRequests(): Promise<void> {
    const running = [...this.live.values()].filter((l) => l.run.result.status === 'running');
    if (running.length === 0) return;
    try {
      const asked = await this.opts.store.listProbeCancelRequests(running.map((l) => l.run.id));
      for (const id of asked) {
        if (this.cancel(id))
          this.opts.logger?.info('probe run cancelled on request from another process', { id });
      }
    } catch (err) {
      this.opts.logger?.warn('could not check for probe cancel requests', { err });
    }
  }

  /** Stops schedules, cancels running probes and waits for them to save what they measured. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.splice(0)) clearInterval(t);
    const running = [...this.live.values()].filter((l) => l.run.result.status === 'running');
    for (const l of running) l.run.cancel();
    await Promise.allSettled(running.map((l) => l.run.done));
  }
}

export const INTERRUPTED_REASON = `interrupted: the process running this probe stopped before it finished (no heartbeat for ${PROBE_STALE_AFTER_MS / 1000} s); what it measured until then is kept`;

/** One sweep (see `ProbeRunner.startSweeping`); never throws. */
export async function failInterruptedRuns(
  store: Pick<ObservationStore, 'failInterruptedProbeRuns'>,
  now: number,
  logger?: Pick<Logger, 'warn'>,
): Promise<string[]> {
  try {
    const ids = await store.failInterruptedProbeRuns(now - PROBE_STALE_AFTER_MS, INTERRUPTED_REASON);
    if (ids.length > 0) logger?.warn('probe runs marked failed: their process stopped', { ids });
    return ids;
  } catch (err) {
    logger?.warn('could not check for interrupted probe runs', { err });
    return [];
  }
}

function resultOfRow(row: ProbeRunRow): ProbeResult {
  const r = row.result as ProbeResult | null;
  // The row's status is the authority (a run saved mid-flight carries its last snapshot).
  if (r) return { ...r, status: row.status };
  return {
    id: row.id,
    status: row.status,
    startedAt: new Date(row.startedAt).toISOString(),
    elapsedSeconds: ((row.finishedAt ?? row.startedAt) - row.startedAt) / 1000,
    mode: row.mode as ProbeMode,
    intervals: [],
    options: {
      holdStream: false,
      keepaliveSeconds: null,
      timeoutSeconds: null,
      budget: 16,
      minWindowSeconds: 1,
    },
    results: [],
    fatalError: null,
  };
}
