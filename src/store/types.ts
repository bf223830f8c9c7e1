import type { CredentialObservation } from '../analysis/credential.js';
import type {
  ExchangeRecord,
  Observation,
  ObservationSource,
  SessionRecord,
  TransportKind,
} from '../sessions/types.js';
import type { ExchangeIdBlock } from './exchangeIds.js';

/** An upstream as the store keeps it: never with credentials or a query string. */
export interface StoredUpstream {
  id: string;
  name: string;
  /** URL with userinfo and query string removed. */
  url: string;
  transport: string;
  /** True once the upstream answered `initialize` without issuing a session id. */
  stateless: boolean | null;
  /** From the probe's control request: false when a made-up session id was accepted. */
  validatesSessionIds: boolean | null;
}

export interface ListQuery {
  upstream?: string | undefined;
  /** Default 100, clamped to 1..10000. */
  limit?: number | undefined;
  /** Only rows at or after this epoch-ms time. */
  since?: number | undefined;
}

export interface StoredSession extends SessionRecord {}
export interface StoredExchange extends ExchangeRecord {
  id: number;
}

export interface PruneCounts {
  exchanges: number;
  sessions: number;
  probeRuns: number;
  /** Credentials not seen, accepted or refused since the cutoff. */
  credentials: number;
}

export interface ProbeRunRow {
  id: string;
  status: 'running' | 'done' | 'failed' | 'cancelled';
  mode: string;
  upstreams: string[];
  startedAt: number;
  finishedAt: number | null;
  /** When the running process last saved or touched the run (null in rows from before it existed). */
  heartbeatAt: number | null;
  /** The full probe result JSON (docs/contract.md "Probe result JSON"). */
  result: unknown;
}

/**
 * The persistence boundary, implemented by SQLite (one process, or a few on one machine) and
 * PostgreSQL (replicas sharing one server); src/store/contract.test.ts holds both to it. Writes go through `write` in batches from the
 * Recorder, never from the request path.
 */
export interface ObservationStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Apply pending migrations. */
  migrate(): Promise<void>;
  /**
   * Persist a batch atomically (one transaction). Throws on failure; the recorder handles it.
   * Each exchange is written once however often its batch is sent (./exchangeIds.ts): with
   * `exchangeIds` (one per exchange, in batch order, from blocks of `reserveExchangeIds`) as given,
   * else numbered by this store per record object.
   */
  write(batch: readonly Observation[], exchangeIds?: readonly number[]): Promise<void>;
  /** A block of exchange ids that no other writer sharing the store will use. */
  reserveExchangeIds(): Promise<ExchangeIdBlock>;
  upsertUpstreams(upstreams: readonly StoredUpstream[]): Promise<void>;
  setUpstreamFlags(
    id: string,
    flags: { stateless?: boolean | null; validatesSessionIds?: boolean | null; transport?: TransportKind },
  ): Promise<void>;
  listUpstreams(): Promise<StoredUpstream[]>;
  /** Newest opened first; `since` keeps sessions active at or after it (last_activity_at). */
  listSessions(q: ListQuery): Promise<StoredSession[]>;
  /** The one session row with this key, or null. */
  getSession(upstream: string, source: ObservationSource, sessionHash: string): Promise<StoredSession | null>;
  /** Exchanges with outcome `session_expired`, newest first. */
  listExpirations(q: ListQuery): Promise<StoredExchange[]>;
  /**
   * Exchanges matching, oldest first (analysis input). `limit` keeps the most
   * recent rows (default 100, at most 10000); narrow the window with `since`.
   */
  listExchanges(q: ListQuery & { source?: 'proxy' | 'probe' }): Promise<StoredExchange[]>;
  saveProbeRun(run: ProbeRunRow): Promise<void>;
  getProbeRun(id: string): Promise<ProbeRunRow | null>;
  listProbeRuns(q: ListQuery): Promise<ProbeRunRow[]>;
  /**
   * Marks `running` runs whose heartbeat is older than `staleBefore` as `failed` with `reason`
   * as their fatal error (the process running them died); returns their ids.
   */
  failInterruptedProbeRuns(staleBefore: number, reason: string): Promise<string[]>;
  /**
   * Claims the period of `upstream`'s probe schedule that starts at `at`: true when no process
   * sharing the store claimed one within the last `periodMs` (less a tenth, at most 5 s, for timer
   * jitter and clock skew). Every replica asks when its timer fires; the one answered true runs it.
   */
  claimScheduledProbe(upstream: string, at: number, periodMs: number): Promise<boolean>;
  /** Asks whichever process runs probe run `id` to cancel it; false when no such run is running. */
  requestProbeCancel(id: string, at: number): Promise<boolean>;
  /** Those of `ids` that a cancel was asked for (`requestProbeCancel`). */
  listProbeCancelRequests(ids: readonly string[]): Promise<string[]>;
  /**
   * Deletes up to `maxRows` of each kind older than `before`: exchanges by start, sessions by
   * last activity, probe runs that have ended by their end, credentials by their last sign (seen,
   * accepted or refused). Reads a bounded number of exchanges (the oldest of each upstream).
   * Returns how many went, per kind; a caller repeats while any kind returned `maxRows`.
   */
  prune(before: number, maxRows: number): Promise<PruneCounts>;
  /**
   * Credential lifetime (optional: a store without it reports no passive credential data).
   * Merges one credential's times: the earliest first sight, the latest acceptance, the
   * earliest rejection.
   */
  recordCredential?(obs: CredentialObservation): Promise<void>;
  /** The credentials seen for an upstream, most recent first sight first (at most `limit`, default 1000). */
  listCredentials?(upstream: string, limit?: number): Promise<CredentialObservation[]>;
  close(): Promise<void>;
}

/** How far before a full period a schedule may be claimed again: timers drift and clocks differ. */
export function scheduleSlackMs(periodMs: number): number {
  return Math.min(periodMs / 10, 5_000);
}
