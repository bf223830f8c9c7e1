import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { and, asc, desc, eq, gte, type SQL, sql } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { CredentialObservation } from '../analysis/credential.js';
import type { ExchangeRecord, Observation, ObservationSource, SessionRecord } from '../sessions/types.js';
import { EXCHANGE_ID_BLOCK_SIZE, type ExchangeIdBlock, ExchangeIds, exchangeIdBlock } from './exchangeIds.js';
import * as schema from './schema.js';
import type {
  ListQuery,
  ObservationStore,
  ProbeRunRow,
  PruneCounts,
  StoredExchange,
  StoredSession,
  StoredUpstream,
} from './types.js';
import { scheduleSlackMs } from './types.js';

/** Resolved against this module, so it works from `src/` (tsx) and from `dist/` (tsc build). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 10_000;

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. Parent directories are created. */
  path: string;
  /**
   * How long a write waits for a lock held by another process. better-sqlite3 is
   * synchronous, so this blocks the event loop: keep it short; the recorder retries.
   */
  busyTimeoutMs?: number;
  /** Clock for `updated_at`; injected by tests. */
  now?: () => number;
}

export interface SqliteObservationStore extends ObservationStore {
  readonly kind: 'sqlite';
  readonly path: string;
  /** Drizzle handle for read queries elsewhere (analysis, API). */
  readonly db: BetterSQLite3Database<typeof schema>;
  /** The underlying connection (pragmas, tests). */
  readonly sqlite: Database.Database;
}

/** Opens (creating if needed) a SQLite store and applies pending migrations. */
export function openSqliteStore({
  path,
  busyTimeoutMs = 50,
  now = Date.now,
}: SqliteStoreOptions): SqliteObservationStore {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) mkdirSync(dirname(resolve(path)), { recursive: true });

  const sqlite = new Database(inMemory ? ':memory:' : path);
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    // Opening may wait for another process (a probe CLI, a second replica) to finish
    // migrating; after that every wait blocks the event loop, so keep it short.
    sqlite.pragma('busy_timeout = 5000');
    const db = drizzle(sqlite, { schema });
    migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    return new SqliteStore(path, sqlite, db, now);
  } catch (err) {
    sqlite.close();
    throw new Error(`storage: cannot open SQLite database "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const NEWER = 'excluded.last_activity_at >= sessions.last_activity_at';

/** A `running` probe run silent since `?`; a row from before heartbeats existed counts from its start. */
const STALE_RUN = "status = 'running' AND coalesce(heartbeat_at, started_at) < ?";

class SqliteStore implements SqliteObservationStore {
  readonly kind = 'sqlite' as const;
  private readonly writeBatch: (batch: readonly Observation[], ids: readonly number[]) => void;
  private readonly reserveBlock: Database.Statement;
  /** Numbers the exchanges of batches written without ids (a store used in process). */
  private readonly ids = new ExchangeIds(() => this.reserveExchangeIds());
  private readonly flagUpsert: Database.Statement;
  private readonly credentialUpsert: Database.Statement;

  constructor(
    readonly path: string,
    readonly sqlite: Database.Database,
    readonly db: BetterSQLite3Database<typeof schema>,
    private readonly now: () => number,
  ) {
    // The recorder's path: raw statements prepared once, one transaction per batch.
    // Exchanges (one row per proxied request) bind positionally: better-sqlite3 binds
    // positional values about twice as fast as an object of named parameters (docs/decisions/0004-exchanges-table.md).
    // The id comes from the writer (./exchangeIds.ts): a row already written by an earlier
    // attempt of the same batch is skipped.
    const insertStatement = sqlite.prepare(`
      INSERT INTO exchanges (
        id, upstream, source, probe_run_id, transport, session_hash, http_method, rpc_method, rpc_count,
        tool_name, rpc_id, started_at, headers_at, response_at, ended_at, http_status, outcome,
        confidence, idle_gap_ms, session_age_ms, stream_attached, exchanges_before, protocol_version,
        era, upstream_versions, caller_hash, rpc_error_code, error_message, healed, heal_latency_ms
      ) VALUES (${Array(30).fill('?').join(', ')})
      ON CONFLICT (id) DO NOTHING`);
    // The 29 values go as separate arguments, in the column order above: better-sqlite3
    // reads an argument directly but fetches an array's elements one by one through V8's
    // API, and the array is one more allocation per row (1.3-2.0 µs less a row in a loop, about
    // 0.5 µs in the running proxy; docs/decisions/0004-exchanges-table.md).
    const insertExchange = (id: number, x: ExchangeRecord): void => {
      insertStatement.run(
        id,
        x.upstream,
        x.source,
        str(x.probeRunId),
        x.transport,
        str(x.sessionHash),
        x.httpMethod,
        str(x.rpcMethod),
        num(x.rpcCount) ?? 0,
        str(x.toolName),
        str(x.rpcId),
        num(x.startedAt),
        num(x.headersAt),
        num(x.responseAt),
        num(x.endedAt),
        num(x.httpStatus),
        x.outcome,
        str(x.confidence),
        num(x.idleGapMs),
        num(x.sessionAgeMs),
        bool(x.streamAttached) ?? 0,
        num(x.exchangesBefore),
        str(x.protocolVersion),
        str(x.era),
        str(x.upstreamVersions),
        str(x.callerHash),
        num(x.rpcErrorCode),
        str(x.errorMessage),
        bool(x.healed) ?? 0,
        num(x.healLatencyMs),
      );
    };
    // A later record for the same session overwrites its progress; an earlier one (another process
    // writing late what it buffered) never rolls it back, and the earliest opening seen wins (the
    // PostgreSQL store's rule too, where replicas share sessions). Handshake details are only
    // filled in, never erased by a record that lacks them.
    const upsertStatement = sqlite.prepare(`
      INSERT INTO sessions (
        upstream, source, session_hash, transport, opened_at, adopted, init_latency_ms, initialized_at,
        protocol_version, client_name, client_version, server_name, server_version, exchanges,
        last_activity_at, ended_at, end_reason
      ) VALUES (${Array(17).fill('?').join(', ')})
      ON CONFLICT (upstream, source, session_hash) DO UPDATE SET
        exchanges = CASE WHEN ${NEWER} THEN excluded.exchanges ELSE sessions.exchanges END,
        ended_at = CASE WHEN ${NEWER} THEN excluded.ended_at ELSE sessions.ended_at END,
        end_reason = CASE WHEN ${NEWER} THEN excluded.end_reason ELSE sessions.end_reason END,
        last_activity_at = max(excluded.last_activity_at, sessions.last_activity_at),
        adopted = CASE WHEN excluded.opened_at < sessions.opened_at THEN excluded.adopted ELSE sessions.adopted END,
        opened_at = min(excluded.opened_at, sessions.opened_at),
        init_latency_ms = coalesce(excluded.init_latency_ms, sessions.init_latency_ms),
        initialized_at = coalesce(excluded.initialized_at, sessions.initialized_at),
        protocol_version = coalesce(excluded.protocol_version, sessions.protocol_version),
        client_name = coalesce(excluded.client_name, sessions.client_name),
        client_version = coalesce(excluded.client_version, sessions.client_version),
        server_name = coalesce(excluded.server_name, sessions.server_name),
        server_version = coalesce(excluded.server_version, sessions.server_version)`);
    // Positional too, in the column order above: one upsert per session per batch under load, but
    // one or two per request when every call opens its own session.
    const upsertSession = (x: SessionRecord): void => {
      upsertStatement.run(
        x.upstream,
        x.source,
        x.sessionHash,
        x.transport,
        num(x.openedAt),
        bool(x.adopted) ?? 0,
        num(x.initLatencyMs),
        num(x.initializedAt),
        str(x.protocolVersion),
        str(x.clientName),
        str(x.clientVersion),
        str(x.serverName),
        str(x.serverVersion),
        num(x.exchanges) ?? 0,
        num(x.lastActivityAt),
        num(x.endedAt),
        str(x.endReason),
      );
    };
    // An upstream may be flagged before the config was saved: insert a placeholder
    // row that `upsertUpstreams` completes later.
    this.credentialUpsert = sqlite.prepare(`
      INSERT INTO credentials (upstream, credential_hash, first_seen_at, last_ok_at, first_rejected_at)
      VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (upstream, credential_hash) DO UPDATE SET
        first_seen_at = min(first_seen_at, excluded.first_seen_at),
        last_ok_at = max(coalesce(last_ok_at, excluded.last_ok_at), coalesce(excluded.last_ok_at, last_ok_at)),
        first_rejected_at = min(coalesce(first_rejected_at, excluded.first_rejected_at), coalesce(excluded.first_rejected_at, first_rejected_at))`);
    this.flagUpsert = sqlite.prepare(`
      INSERT INTO upstreams (id, name, url, transport, stateless, validates_session_ids, updated_at)
      VALUES (@id, @id, '', coalesce(@transport, 'streamable-http'), @stateless, @validatesSessionIds, @updatedAt)
      ON CONFLICT (id) DO UPDATE SET
        stateless = CASE WHEN @setStateless THEN excluded.stateless ELSE upstreams.stateless END,
        validates_session_ids = CASE WHEN @setValidates THEN excluded.validates_session_ids
          ELSE upstreams.validates_session_ids END,
        transport = coalesce(@transport, upstreams.transport),
        updated_at = excluded.updated_at`);

    // A block above every id in use, also those written before blocks existed (by rowid).
    this.reserveBlock = sqlite.prepare(`
      INSERT INTO exchange_id_blocks (block)
      SELECT max(coalesce((SELECT max(block) FROM exchange_id_blocks), 0),
                 coalesce((SELECT max(id) FROM exchanges), 0) / ${EXCHANGE_ID_BLOCK_SIZE}) + 1
      RETURNING block`);

    this.writeBatch = sqlite.transaction((batch: readonly Observation[], ids: readonly number[]) => {
      const updatedAt = this.now();
      let next = 0;
      for (const obs of batch) {
        switch (obs.type) {
          case 'exchange':
            insertExchange(ids[next++]!, obs.exchange);
            break;
          case 'session':
            upsertSession(obs.session);
            break;
          case 'upstream-stateless':
            this.flagUpsert.run(
              flagParams(obs.upstream, { stateless: obs.stateless }, updatedAt) as Record<string, unknown>,
            );
            break;
        }
      }
    });
  }

  async migrate(): Promise<void> {
    this.assertOpen();
    migrate(this.db, { migrationsFolder: MIGRATIONS_FOLDER });
  }

  async write(batch: readonly Observation[], exchangeIds?: readonly number[]): Promise<void> {
    this.assertOpen();
    if (batch.length === 0) return;
    const ids = exchangeIds ?? (await this.ids.of(batch));
    assertIdsFit(batch, ids);
    this.writeBatch(batch, ids);
  }

  async reserveExchangeIds(): Promise<ExchangeIdBlock> {
    this.assertOpen();
    const { block } = this.reserveBlock.get() as { block: number };
    return exchangeIdBlock(block);
  }

  async upsertUpstreams(list: readonly StoredUpstream[]): Promise<void> {
    this.assertOpen();
    if (list.length === 0) return;
    const updatedAt = this.now();
    const u = schema.upstreams;
    this.db
      .insert(u)
      .values(
        list.map((up) => ({
          id: up.id,
          name: up.name,
          url: redactUrl(up.url),
          transport: up.transport,
          stateless: up.stateless ?? null,
          validatesSessionIds: up.validatesSessionIds ?? null,
          updatedAt,
        })),
      )
      .onConflictDoUpdate({
        target: u.id,
        set: {
          name: sql.raw('excluded.name'),
          url: sql.raw('excluded.url'),
          // A config saying `auto` keeps the transport detected earlier (probe/detectTransport.ts).
          transport: sql`CASE WHEN excluded.transport = 'auto' AND ${u.transport} IN ('streamable-http', 'sse')
            THEN ${u.transport} ELSE excluded.transport END`,
          // Measured flags survive a config reload that does not know them.
          stateless: sql`coalesce(excluded.stateless, ${u.stateless})`,
          validatesSessionIds: sql`coalesce(excluded.validates_session_ids, ${u.validatesSessionIds})`,
          updatedAt: sql.raw('excluded.updated_at'),
        },
      })
      .run();
  }

  async recordCredential(c: CredentialObservation): Promise<void> {
    this.assertOpen();
    this.credentialUpsert.run(c.upstream, c.credentialHash, c.firstSeenAt, c.lastOkAt, c.firstRejectedAt);
  }

  async listCredentials(upstream: string, limit = 1000): Promise<CredentialObservation[]> {
    this.assertOpen();
    const t = schema.credentials;
    return this.db
      .select({
        upstream: t.upstream,
        credentialHash: t.credentialHash,
        firstSeenAt: t.firstSeenAt,
        lastOkAt: t.lastOkAt,
        firstRejectedAt: t.firstRejectedAt,
      })
      .from(t)
      .where(eq(t.upstream, upstream))
      .orderBy(desc(t.firstSeenAt))
      .limit(Math.max(1, Math.min(limit, 10_000)))
      .all();
  }

  async setUpstreamFlags(
    id: string,
    flags: Parameters<ObservationStore['setUpstreamFlags']>[1],
  ): Promise<void> {
    this.assertOpen();
    this.flagUpsert.run(flagParams(id, flags, this.now()) as Record<string, unknown>);
  }

  async listUpstreams(): Promise<StoredUpstream[]> {
    this.assertOpen();
    const rows = this.db.select().from(schema.upstreams).orderBy(asc(schema.upstreams.id)).all();
    return rows.map(({ updatedAt: _updatedAt, ...up }) => up);
  }

  async listSessions(q: ListQuery): Promise<StoredSession[]> {
    this.assertOpen();
    const s = schema.sessions;
    const where: SQL[] = [];
    if (q.upstream !== undefined) where.push(eq(s.upstream, q.upstream));
    // A session belongs to a window when it was active in it.
    if (q.since !== undefined) where.push(gte(s.lastActivityAt, q.since));
    const rows = this.db
      .select()
      .from(s)
      .where(and(...where))
      .orderBy(desc(s.openedAt), desc(s.id))
      .limit(clampLimit(q.limit))
      .all();
    return rows.map(({ id: _id, ...session }) => session);
  }

  async getSession(
    upstream: string,
    source: ObservationSource,
    sessionHash: string,
  ): Promise<StoredSession | null> {
    this.assertOpen();
    const s = schema.sessions;
    const row = this.db
      .select()
      .from(s)
      .where(and(eq(s.upstream, upstream), eq(s.source, source), eq(s.sessionHash, sessionHash)))
      .get();
    if (!row) return null;
    const { id: _id, ...session } = row;
    return session;
  }

  async listExpirations(q: ListQuery): Promise<StoredExchange[]> {
    this.assertOpen();
    const e = schema.exchanges;
    return (
      this.db
        .select()
        .from(e)
        // A literal, not a bound parameter: SQLite only uses the partial expiration indexes then.
        .where(and(sql`${e.outcome} = 'session_expired'`, ...exchangeFilters(q)))
        .orderBy(desc(e.startedAt), desc(e.id))
        .limit(clampLimit(q.limit))
        .all()
    );
  }

  async listExchanges(q: ListQuery & { source?: 'proxy' | 'probe' }): Promise<StoredExchange[]> {
    this.assertOpen();
    const e = schema.exchanges;
    const where = exchangeFilters(q);
    if (q.source !== undefined) where.push(eq(e.source, q.source));
    // The most recent `limit` rows, returned oldest first (analysis reads them in time order).
    const rows = this.db
      .select()
      .from(e)
      .where(and(...where))
      .orderBy(desc(e.startedAt), desc(e.id))
      .limit(clampLimit(q.limit))
      .all();
    return rows.reverse();
  }

  async saveProbeRun(run: ProbeRunRow): Promise<void> {
    this.assertOpen();
    const p = schema.probeRuns;
    const row = {
      id: run.id,
      status: run.status,
      mode: run.mode,
      upstreams: run.upstreams,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt ?? null,
      heartbeatAt: run.heartbeatAt ?? null,
      result: run.result ?? null,
    };
    this.db
      .insert(p)
      .values(row)
      .onConflictDoUpdate({
        target: p.id,
        set: {
          status: row.status,
          mode: row.mode,
          upstreams: row.upstreams,
          startedAt: row.startedAt,
          finishedAt: row.finishedAt,
          heartbeatAt: row.heartbeatAt,
          result: row.result,
        },
      })
      .run();
  }

  async prune(before: number, maxRows: number): Promise<PruneCounts> {
    this.assertOpen();
    const limit = Math.max(1, Math.floor(maxRows));
    // Each statement reads a bounded number of rows, so that an hourly prune of a large table
    // with nothing to delete costs nothing. Exchanges: per upstream, the oldest through
    // (upstream, started_at); the upstreams come from seeks in that index, one per upstream (ids
    // are numbered per writer, so they are not in time order across processes). Sessions: one
    // idle since `before` was opened before it too, a range of `sessions_opened_idx`. Credentials
    // and cancel requests are a handful of rows; old ones simply go.
    this.sqlite.prepare('DELETE FROM probe_cancel_requests WHERE requested_at < ?').run(before);
    const nextUpstream = this.sqlite.prepare(
      'SELECT upstream FROM exchanges WHERE upstream > ? ORDER BY upstream LIMIT 1',
    );
    const deleteOldest = this.sqlite.prepare(
      `DELETE FROM exchanges WHERE id IN (
         SELECT id FROM exchanges WHERE upstream = ? AND started_at < ? ORDER BY started_at LIMIT ?)`,
    );
    return this.sqlite.transaction(() => {
      let exchanges = 0;
      let upstream = nextUpstream.get('') as { upstream: string } | undefined;
      while (upstream !== undefined && exchanges < limit) {
        exchanges += deleteOldest.run(upstream.upstream, before, limit - exchanges).changes;
        upstream = nextUpstream.get(upstream.upstream) as { upstream: string } | undefined;
      }
      return {
        exchanges,
        sessions: this.sqlite
          .prepare(
            `DELETE FROM sessions WHERE id IN (
               SELECT id FROM sessions WHERE opened_at < ? AND last_activity_at < ? LIMIT ?)`,
          )
          .run(before, before, limit).changes,
        probeRuns: this.sqlite
          .prepare(
            `DELETE FROM probe_runs WHERE rowid IN (
               SELECT rowid FROM probe_runs WHERE status <> 'running' AND coalesce(finished_at, started_at) < ? LIMIT ?)`,
          )
          .run(before, limit).changes,
        credentials: this.sqlite
          .prepare(
            `DELETE FROM credentials WHERE rowid IN (
               SELECT rowid FROM credentials
               WHERE max(first_seen_at, coalesce(last_ok_at, 0), coalesce(first_rejected_at, 0)) < ? LIMIT ?)`,
          )
          .run(before, limit).changes,
      };
    })();
  }

  async failInterruptedProbeRuns(staleBefore: number, reason: string): Promise<string[]> {
    this.assertOpen();
    // Look first: an UPDATE takes the write lock even when nothing matches, and this runs every
    // 15 s beside other writers.
    const stale = this.sqlite.prepare(`SELECT 1 FROM probe_runs WHERE ${STALE_RUN} LIMIT 1`).get(staleBefore);
    if (stale === undefined) return [];
    const rows = this.sqlite
      .prepare(
        `UPDATE probe_runs SET
           status = 'failed',
           finished_at = coalesce(heartbeat_at, started_at),
           result = CASE WHEN json_valid(result) THEN json_set(result, '$.status', 'failed',
             '$.fatalError', coalesce(result ->> '$.fatalError', ?)) ELSE result END
         WHERE ${STALE_RUN}
         RETURNING id`,
      )
      .all(reason, staleBefore) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  async claimScheduledProbe(upstream: string, at: number, periodMs: number): Promise<boolean> {
    this.assertOpen();
    const claimed = this.sqlite
      .prepare(
        `INSERT INTO probe_schedule_claims (upstream, claimed_at) VALUES (?, ?)
         ON CONFLICT (upstream) DO UPDATE SET claimed_at = excluded.claimed_at
           WHERE probe_schedule_claims.claimed_at <= ?
         RETURNING upstream`,
      )
      .get(upstream, at, at - periodMs + scheduleSlackMs(periodMs));
    return claimed !== undefined;
  }

  async requestProbeCancel(id: string, at: number): Promise<boolean> {
    this.assertOpen();
    const running = this.sqlite
      .prepare("SELECT 1 FROM probe_runs WHERE id = ? AND status = 'running'")
      .get(id);
    if (running === undefined) return false;
    this.sqlite
      .prepare(
        'INSERT INTO probe_cancel_requests (run_id, requested_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
      )
      .run(id, at);
    return true;
  }

  async listProbeCancelRequests(ids: readonly string[]): Promise<string[]> {
    this.assertOpen();
    if (ids.length === 0) return [];
    const rows = this.sqlite
      .prepare(
        `SELECT run_id AS id FROM probe_cancel_requests WHERE run_id IN (${ids.map(() => '?').join(', ')})`,
      )
      .all(...ids) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  async getProbeRun(id: string): Promise<ProbeRunRow | null> {
    this.assertOpen();
    const row = this.db.select().from(schema.probeRuns).where(eq(schema.probeRuns.id, id)).get();
    return row ?? null;
  }

  async listProbeRuns(q: ListQuery): Promise<ProbeRunRow[]> {
    this.assertOpen();
    const p = schema.probeRuns;
    const where: SQL[] = [];
    if (q.since !== undefined) where.push(gte(p.startedAt, q.since));
    // upstreams is a JSON array: match the quoted id inside it.
    if (q.upstream !== undefined) {
      where.push(sql`exists (select 1 from json_each(${p.upstreams}) where json_each.value = ${q.upstream})`);
    }
    return this.db
      .select()
      .from(p)
      .where(and(...where))
      .orderBy(desc(p.startedAt), desc(p.id))
      .limit(clampLimit(q.limit))
      .all();
  }

  async close(): Promise<void> {
    if (!this.sqlite.open) return;
    try {
      // Fold the WAL back so a closed database is one self-contained file.
      this.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A busy or read-only database still closes cleanly without the checkpoint.
    }
    this.sqlite.close();
  }

  private assertOpen(): void {
    if (!this.sqlite.open) throw new Error(`storage: SQLite database "${this.path}" is closed`);
  }
}

/** A batch's exchange ids, one per exchange: anything else is a caller's bug, refused before writing. */
export function assertIdsFit(batch: readonly Observation[], ids: readonly number[]): void {
  let exchanges = 0;
  for (const obs of batch) if (obs.type === 'exchange') exchanges++;
  if (ids.length !== exchanges || !ids.every(Number.isSafeInteger)) {
    throw new Error(`storage: ${ids.length} exchange ids for a batch of ${exchanges} exchanges`);
  }
}

function exchangeFilters(q: ListQuery): SQL[] {
  const e = schema.exchanges;
  const where: SQL[] = [];
  if (q.upstream !== undefined) where.push(eq(e.upstream, q.upstream));
  if (q.since !== undefined) where.push(gte(e.startedAt, q.since));
  return where;
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIST_LIMIT;
  return Math.min(MAX_LIST_LIMIT, Math.max(1, Math.floor(limit)));
}

/** Keeps scheme, host, port and path; drops userinfo, query string and fragment. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.toString();
  } catch {
    return raw.replace(/[?#].*$/s, '');
  }
}

// Value coercion for raw statements: better-sqlite3 binds only numbers, strings,
// bigints, buffers and null, so booleans become 0/1 and anything missing is null.
const bool = (v: boolean | null | undefined): number | null => (v == null ? null : v ? 1 : 0);
const str = (v: unknown): string | null => (v == null ? null : String(v));
const num = (v: number | null | undefined): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

function flagParams(
  id: string,
  flags: Parameters<ObservationStore['setUpstreamFlags']>[1],
  updatedAt: number,
): Record<string, string | number | null> {
  return {
    id,
    transport: flags.transport ?? null,
    stateless: bool(flags.stateless),
    validatesSessionIds: bool(flags.validatesSessionIds),
    setStateless: 'stateless' in flags && flags.stateless !== undefined ? 1 : 0,
    setValidates: 'validatesSessionIds' in flags && flags.validatesSessionIds !== undefined ? 1 : 0,
    updatedAt,
  };
}
