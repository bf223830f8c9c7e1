// The PostgreSQL store: the SQLite store's contract (./types.ts) on a server that several
// replicas share. Driver: node-postgres (`pg`), see docs/decisions/0070-postgres-driver.md.
//
// Writes: one statement per batch. Exchanges and session snapshots travel as one JSON
// parameter each (JSON.stringify is native; no per-row, per-column work in JavaScript) and
// are expanded by `json_to_recordset` in one data-modifying CTE. Exchange ids are numbered
// by the writer from a block of the `exchange_id_blocks` sequence (./exchangeIds.ts), so a
// batch retried after a lost connection (whose commit may have landed) writes each row once:
// `ON CONFLICT (id) DO NOTHING`.
import { fileURLToPath } from 'node:url';
import { and, asc, desc, eq, gte, type SQL, sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { CredentialObservation } from '../analysis/credential.js';
import type { ExchangeRecord, Observation, ObservationSource, SessionRecord } from '../sessions/types.js';
import { redactDatabaseUrl, StoreUnreachableError } from './databaseUrl.js';
import { type ExchangeIdBlock, ExchangeIds, exchangeIdBlock } from './exchangeIds.js';
import * as schema from './schema.pg.js';
import { assertIdsFit, clampLimit, redactUrl } from './sqlite.js';
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

export { redactDatabaseUrl, StoreUnreachableError };

export const PG_MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle/postgres', import.meta.url));

/** `pg_advisory_lock` key held while migrating: replicas starting together migrate one at a time. */
const MIGRATION_LOCK_KEY = 7_070_001;

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (credentials are never logged). */
  url: string;
  /** Connections at most (default 10). */
  poolSize?: number;
  /** How long opening a connection may take (default 5 s). */
  connectTimeoutMs?: number;
  /** A query not answered in this long fails (default 30 s): a hung server must not hold the recorder. */
  queryTimeoutMs?: number;
  /** Clock for `updated_at`; injected by tests. */
  now?: () => number;
  /** Connection errors outside any query (an idle connection cut) are reported here. */
  onConnectionError?: (err: Error) => void;
}

export interface PostgresObservationStore extends ObservationStore {
  readonly kind: 'postgres';
  /** Drizzle handle for read queries elsewhere. */
  readonly db: NodePgDatabase<typeof schema>;
  readonly pool: pg.Pool;
}

/** Connects and applies pending migrations (one replica at a time). */
export async function openPostgresStore({
  url,
  poolSize = 10,
  connectTimeoutMs = 5_000,
  queryTimeoutMs = 30_000,
  now = Date.now,
  onConnectionError,
}: PostgresStoreOptions): Promise<PostgresObservationStore> {
  const shown = redactDatabaseUrl(url);
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'mcp-session-probe',
    });
  } catch (err) {
    throw new StoreUnreachableError(
      `storage.url: "${shown}" is not a usable PostgreSQL URL: ${message(err)}`,
    );
  }
  // An idle connection cut by the server (a restart, a failover) is emitted here; without a
  // listener it would crash the process. The pool replaces the connection on next use.
  pool.on('error', (err) => onConnectionError?.(err));
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new StoreUnreachableError(
      `storage: cannot reach PostgreSQL at ${shown}: ${message(err)}; check storage.url and that the server is running`,
      { cause: err },
    );
  }
  try {
    await migrateLocked(client);
    const store = new PostgresStore(pool, now);
    client.release();
    return store;
  } catch (err) {
    client.release(err as Error);
    await pool.end().catch(() => {});
    throw new Error(`storage: cannot prepare PostgreSQL database at ${shown}: ${message(err)}`, {
      cause: err,
    });
  }
}

/** Applies the migrations while holding a session advisory lock, so concurrent starts take turns. */
async function migrateLocked(client: pg.PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await migrate(drizzle(client), { migrationsFolder: PG_MIGRATIONS_FOLDER });
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}

/** JSON key of the record, SQL column, and the type `json_to_recordset` reads it as. */
type Column = readonly [key: string, column: string, type: string, value?: string];

// Times arrive as JSON numbers and are read as float8 then cast: an injected clock may give a
// fractional millisecond, which a bigint column would refuse.
const EXCHANGE_COLUMNS: readonly Column[] = [
  ['upstream', 'upstream', 'text'],
  ['source', 'source', 'text'],
  ['probeRunId', 'probe_run_id', 'text'],
  ['transport', 'transport', 'text'],
  ['sessionHash', 'session_hash', 'text'],
  ['httpMethod', 'http_method', 'text'],
  ['rpcMethod', 'rpc_method', 'text'],
  ['rpcCount', 'rpc_count', 'float8', 'coalesce(r."rpcCount", 0)::integer'],
  ['toolName', 'tool_name', 'text'],
  ['rpcId', 'rpc_id', 'text'],
  ['startedAt', 'started_at', 'float8', 'r."startedAt"::bigint'],
  ['headersAt', 'headers_at', 'float8', 'r."headersAt"::bigint'],
  ['responseAt', 'response_at', 'float8', 'r."responseAt"::bigint'],
  ['endedAt', 'ended_at', 'float8', 'r."endedAt"::bigint'],
  ['httpStatus', 'http_status', 'float8', 'r."httpStatus"::integer'],
  ['outcome', 'outcome', 'text'],
  ['confidence', 'confidence', 'text'],
  ['idleGapMs', 'idle_gap_ms', 'float8'],
  ['sessionAgeMs', 'session_age_ms', 'float8'],
  ['streamAttached', 'stream_attached', 'boolean', 'coalesce(r."streamAttached", false)'],
  ['exchangesBefore', 'exchanges_before', 'float8', 'r."exchangesBefore"::integer'],
  ['protocolVersion', 'protocol_version', 'text'],
  ['era', 'era', 'text'],
  ['upstreamVersions', 'upstream_versions', 'text'],
  ['callerHash', 'caller_hash', 'text'],
  ['rpcErrorCode', 'rpc_error_code', 'float8', 'r."rpcErrorCode"::integer'],
  ['errorMessage', 'error_message', 'text'],
  ['healed', 'healed', 'boolean', 'coalesce(r.healed, false)'],
  ['healLatencyMs', 'heal_latency_ms', 'float8'],
];

const SESSION_COLUMNS: readonly Column[] = [
  ['upstream', 'upstream', 'text'],
  ['source', 'source', 'text'],
  ['sessionHash', 'session_hash', 'text'],
  ['transport', 'transport', 'text'],
  ['openedAt', 'opened_at', 'float8', 'r."openedAt"::bigint'],
  ['adopted', 'adopted', 'boolean', 'coalesce(r.adopted, false)'],
  ['initLatencyMs', 'init_latency_ms', 'float8'],
  ['initializedAt', 'initialized_at', 'float8', 'r."initializedAt"::bigint'],
  ['protocolVersion', 'protocol_version', 'text'],
  ['clientName', 'client_name', 'text'],
  ['clientVersion', 'client_version', 'text'],
  ['serverName', 'server_name', 'text'],
  ['serverVersion', 'server_version', 'text'],
  ['exchanges', 'exchanges', 'float8', 'coalesce(r.exchanges, 0)::integer'],
  ['lastActivityAt', 'last_activity_at', 'float8', 'r."lastActivityAt"::bigint'],
  ['endedAt', 'ended_at', 'float8', 'r."endedAt"::bigint'],
  ['endReason', 'end_reason', 'text'],
];

const recordset = (cols: readonly Column[]) => cols.map(([key, , type]) => `"${key}" ${type}`).join(', ');
const selected = (cols: readonly Column[]) =>
  cols.map(([key, , , value]) => value ?? `r."${key}"`).join(', ');
const columns = (cols: readonly Column[]) => cols.map(([, column]) => column).join(', ');

// A later snapshot of a session overwrites its progress; an earlier one (a replica writing what it
// buffered through an outage, after another replica moved the session on) never rolls it back.
// Handshake details are only filled in, never erased. The opening time is the earliest any writer saw.
const NEWER = 'excluded.last_activity_at >= sessions.last_activity_at';
const WRITE_BATCH_SQL = `
  WITH new_exchanges AS (
    INSERT INTO exchanges (id, ${columns(EXCHANGE_COLUMNS)})
    SELECT r.id::bigint, ${selected(EXCHANGE_COLUMNS)}
    FROM ROWS FROM (json_to_recordset($1::json) AS (${recordset(EXCHANGE_COLUMNS)}), unnest($2::float8[]))
      AS r(${EXCHANGE_COLUMNS.map(([key]) => `"${key}"`).join(', ')}, id)
    ON CONFLICT (id) DO NOTHING
  )
  INSERT INTO sessions (${columns(SESSION_COLUMNS)})
  SELECT ${selected(SESSION_COLUMNS)} FROM json_to_recordset($3::json) AS r(${recordset(SESSION_COLUMNS)})
  ON CONFLICT (upstream, source, session_hash) DO UPDATE SET
    exchanges = CASE WHEN ${NEWER} THEN excluded.exchanges ELSE sessions.exchanges END,
    ended_at = CASE WHEN ${NEWER} THEN excluded.ended_at ELSE sessions.ended_at END,
    end_reason = CASE WHEN ${NEWER} THEN excluded.end_reason ELSE sessions.end_reason END,
    last_activity_at = greatest(excluded.last_activity_at, sessions.last_activity_at),
    adopted = CASE WHEN excluded.opened_at < sessions.opened_at THEN excluded.adopted ELSE sessions.adopted END,
    opened_at = least(excluded.opened_at, sessions.opened_at),
    init_latency_ms = coalesce(excluded.init_latency_ms, sessions.init_latency_ms),
    initialized_at = coalesce(excluded.initialized_at, sessions.initialized_at),
    protocol_version = coalesce(excluded.protocol_version, sessions.protocol_version),
    client_name = coalesce(excluded.client_name, sessions.client_name),
    client_version = coalesce(excluded.client_version, sessions.client_version),
    server_name = coalesce(excluded.server_name, sessions.server_name),
    server_version = coalesce(excluded.server_version, sessions.server_version)`;

// An upstream may be flagged before the config was saved: a placeholder row that
// `upsertUpstreams` completes later ($6/$7 say whether the flag is being set at all).
const FLAG_UPSERT_SQL = `
  INSERT INTO upstreams (id, name, url, transport, stateless, validates_session_ids, updated_at)
  VALUES ($1, $1, '', coalesce($2, 'streamable-http'), $3, $4, $5)
  ON CONFLICT (id) DO UPDATE SET
    stateless = CASE WHEN $6 THEN excluded.stateless ELSE upstreams.stateless END,
    validates_session_ids = CASE WHEN $7 THEN excluded.validates_session_ids ELSE upstreams.validates_session_ids END,
    transport = coalesce($2, upstreams.transport),
    updated_at = excluded.updated_at`;

/** A `running` probe run silent since $1; a row from before heartbeats existed counts from its start. */
const STALE_RUN = "status = 'running' AND coalesce(heartbeat_at, started_at) < $1";

class PostgresStore implements PostgresObservationStore {
  readonly kind = 'postgres' as const;
  readonly db: NodePgDatabase<typeof schema>;
  /** Numbers the exchanges of batches written without ids (a store used in process). */
  private readonly ids = new ExchangeIds(() => this.reserveExchangeIds());
  private closed = false;

  constructor(
    readonly pool: pg.Pool,
    private readonly now: () => number,
  ) {
    this.db = drizzle(pool, { schema });
  }

  async reserveExchangeIds(): Promise<ExchangeIdBlock> {
    this.assertOpen();
    const { rows } = await this.pool.query<{ block: string }>(
      `SELECT nextval('exchange_id_blocks') AS block`,
    );
    return exchangeIdBlock(Number(rows[0]!.block));
  }

  async migrate(): Promise<void> {
    this.assertOpen();
    const client = await this.pool.connect();
    try {
      await migrateLocked(client);
      client.release();
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  }

  async write(batch: readonly Observation[], exchangeIds?: readonly number[]): Promise<void> {
    this.assertOpen();
    if (batch.length === 0) return;
    const ids = exchangeIds ?? (await this.ids.of(batch));
    assertIdsFit(batch, ids);
    const exchanges: ExchangeRecord[] = [];
    // One row per session per statement (ON CONFLICT cannot touch a row twice): the last snapshot wins.
    const sessions = new Map<string, SessionRecord>();
    const flags: Array<{ upstream: string; stateless: boolean }> = [];
    for (const obs of batch) {
      switch (obs.type) {
        case 'exchange':
          exchanges.push(obs.exchange);
          break;
        case 'session': {
          const s = obs.session;
          sessions.set(`${s.upstream}\0${s.source}\0${s.sessionHash}`, s);
          break;
        }
        case 'upstream-stateless':
          flags.push({ upstream: obs.upstream, stateless: obs.stateless });
          break;
      }
    }
    const values = [JSON.stringify(exchanges), ids, JSON.stringify([...sessions.values()])];
    if (flags.length === 0) {
      await this.pool.query({ name: 'mcpprobe_write_batch', text: WRITE_BATCH_SQL, values });
      return;
    }
    const updatedAt = this.now();
    await this.transaction(async (client) => {
      await client.query({ name: 'mcpprobe_write_batch', text: WRITE_BATCH_SQL, values });
      for (const f of flags)
        await client.query(FLAG_UPSERT_SQL, flagValues(f.upstream, { stateless: f.stateless }, updatedAt));
    });
  }

  async upsertUpstreams(list: readonly StoredUpstream[]): Promise<void> {
    this.assertOpen();
    if (list.length === 0) return;
    const updatedAt = this.now();
    const u = schema.upstreams;
    await this.db
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
      });
  }

  async recordCredential(c: CredentialObservation): Promise<void> {
    this.assertOpen();
    // The same merge as SQLite's: the earliest first sight, the latest acceptance, the earliest rejection.
    await this.pool.query(
      `INSERT INTO credentials (upstream, credential_hash, first_seen_at, last_ok_at, first_rejected_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (upstream, credential_hash) DO UPDATE SET
         first_seen_at = least(credentials.first_seen_at, excluded.first_seen_at),
         last_ok_at = greatest(credentials.last_ok_at, excluded.last_ok_at),
         first_rejected_at = least(credentials.first_rejected_at, excluded.first_rejected_at)`,
      [c.upstream, c.credentialHash, c.firstSeenAt, c.lastOkAt, c.firstRejectedAt],
    );
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
      .limit(Math.max(1, Math.min(limit, 10_000)));
  }

  async setUpstreamFlags(
    id: string,
    flags: Parameters<ObservationStore['setUpstreamFlags']>[1],
  ): Promise<void> {
    this.assertOpen();
    await this.pool.query(FLAG_UPSERT_SQL, flagValues(id, flags, this.now()));
  }

  async listUpstreams(): Promise<StoredUpstream[]> {
    this.assertOpen();
    const rows = await this.db.select().from(schema.upstreams).orderBy(asc(schema.upstreams.id));
    return rows.map(({ updatedAt: _updatedAt, ...up }) => up);
  }

  async listSessions(q: ListQuery): Promise<StoredSession[]> {
    this.assertOpen();
    const s = schema.sessions;
    const where: SQL[] = [];
    if (q.upstream !== undefined) where.push(eq(s.upstream, q.upstream));
    if (q.since !== undefined) where.push(gte(s.lastActivityAt, q.since));
    const rows = await this.db
      .select()
      .from(s)
      .where(and(...where))
      .orderBy(desc(s.openedAt), desc(s.id))
      .limit(clampLimit(q.limit));
    return rows.map(({ id: _id, ...session }) => session);
  }

  async getSession(
    upstream: string,
    source: ObservationSource,
    sessionHash: string,
  ): Promise<StoredSession | null> {
    this.assertOpen();
    const s = schema.sessions;
    const [row] = await this.db
      .select()
      .from(s)
      .where(and(eq(s.upstream, upstream), eq(s.source, source), eq(s.sessionHash, sessionHash)));
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
        // A literal, so the planner can use the partial expiration indexes.
        .where(and(sql`${e.outcome} = 'session_expired'`, ...exchangeFilters(q)))
        .orderBy(desc(e.startedAt), desc(e.id))
        .limit(clampLimit(q.limit))
    );
  }

  async listExchanges(q: ListQuery & { source?: 'proxy' | 'probe' }): Promise<StoredExchange[]> {
    this.assertOpen();
    const e = schema.exchanges;
    const where = exchangeFilters(q);
    if (q.source !== undefined) where.push(eq(e.source, q.source));
    const rows = await this.db
      .select()
      .from(e)
      .where(and(...where))
      .orderBy(desc(e.startedAt), desc(e.id))
      .limit(clampLimit(q.limit));
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
    await this.db
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
      });
  }

  async getProbeRun(id: string): Promise<ProbeRunRow | null> {
    this.assertOpen();
    const [row] = await this.db.select().from(schema.probeRuns).where(eq(schema.probeRuns.id, id));
    return row ?? null;
  }

  async listProbeRuns(q: ListQuery): Promise<ProbeRunRow[]> {
    this.assertOpen();
    const p = schema.probeRuns;
    const where: SQL[] = [];
    if (q.since !== undefined) where.push(gte(p.startedAt, q.since));
    if (q.upstream !== undefined) where.push(sql`${p.upstreams} @> ${JSON.stringify([q.upstream])}::jsonb`);
    return this.db
      .select()
      .from(p)
      .where(and(...where))
      .orderBy(desc(p.startedAt), desc(p.id))
      .limit(clampLimit(q.limit));
  }

  async claimScheduledProbe(upstream: string, at: number, periodMs: number): Promise<boolean> {
    this.assertOpen();
    // One statement: the row lock makes concurrent claims from several replicas take turns, and
    // only the first moves claimed_at forward.
    const { rowCount } = await this.pool.query(
      `INSERT INTO probe_schedule_claims (upstream, claimed_at) VALUES ($1, $2)
       ON CONFLICT (upstream) DO UPDATE SET claimed_at = excluded.claimed_at
         WHERE probe_schedule_claims.claimed_at <= $3
       RETURNING upstream`,
      [upstream, Math.round(at), Math.round(at - periodMs + scheduleSlackMs(periodMs))],
    );
    return rowCount === 1;
  }

  async requestProbeCancel(id: string, at: number): Promise<boolean> {
    this.assertOpen();
    const { rowCount } = await this.pool.query(
      `WITH running AS (SELECT id FROM probe_runs WHERE id = $1 AND status = 'running'),
       asked AS (INSERT INTO probe_cancel_requests (run_id, requested_at) SELECT id, $2 FROM running
         ON CONFLICT DO NOTHING)
       SELECT 1 FROM running`,
      [id, Math.round(at)],
    );
    return rowCount === 1;
  }

  async listProbeCancelRequests(ids: readonly string[]): Promise<string[]> {
    this.assertOpen();
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT run_id AS id FROM probe_cancel_requests WHERE run_id = ANY($1::text[])',
      [ids],
    );
    return rows.map((r) => r.id);
  }

  async failInterruptedProbeRuns(staleBefore: number, reason: string): Promise<string[]> {
    this.assertOpen();
    const { rows } = await this.pool.query<{ id: string }>(
      `UPDATE probe_runs SET
         status = 'failed',
         finished_at = coalesce(heartbeat_at, started_at),
         result = CASE WHEN jsonb_typeof(result) = 'object' THEN result || jsonb_build_object(
           'status', 'failed',
           'fatalError', coalesce(nullif(result -> 'fatalError', 'null'::jsonb), to_jsonb($2::text)))
           ELSE result END
       WHERE ${STALE_RUN}
       RETURNING id`,
      [staleBefore, reason],
    );
    return rows.map((r) => r.id);
  }

  async prune(before: number, maxRows: number): Promise<PruneCounts> {
    this.assertOpen();
    const limit = Math.max(1, Math.floor(maxRows));
    return this.transaction(async (client) => {
      // Per upstream, the oldest rows through (upstream, started_at): the distinct upstreams come from
      // a loose index scan of that index, so a prune with nothing to delete reads a few index pages.
      const exchanges = await client.query(
        `WITH RECURSIVE ups AS (
           (SELECT upstream FROM exchanges ORDER BY upstream LIMIT 1)
           UNION ALL
           SELECT (SELECT e.upstream FROM exchanges e WHERE e.upstream > ups.upstream ORDER BY e.upstream LIMIT 1)
           FROM ups WHERE ups.upstream IS NOT NULL
         ), victims AS (
           SELECT v.id FROM ups CROSS JOIN LATERAL (
             SELECT e.id FROM exchanges e WHERE e.upstream = ups.upstream AND e.started_at < $1
             ORDER BY e.started_at LIMIT $2) v
           WHERE ups.upstream IS NOT NULL LIMIT $2
         )
         DELETE FROM exchanges WHERE id IN (SELECT id FROM victims)`,
        [before, limit],
      );
      const sessions = await client.query(
        `DELETE FROM sessions WHERE id IN (
           SELECT id FROM sessions WHERE opened_at < $1 AND last_activity_at < $1 LIMIT $2)`,
        [before, limit],
      );
      const probeRuns = await client.query(
        `DELETE FROM probe_runs WHERE id IN (
           SELECT id FROM probe_runs WHERE status <> 'running' AND coalesce(finished_at, started_at) < $1 LIMIT $2)`,
        [before, limit],
      );
      // Credentials: the last sign of one (seen, accepted or refused; greatest() skips nulls).
      const credentials = await client.query(
        `DELETE FROM credentials WHERE (upstream, credential_hash) IN (
           SELECT upstream, credential_hash FROM credentials
           WHERE greatest(first_seen_at, last_ok_at, first_rejected_at) < $1 LIMIT $2)`,
        [before, limit],
      );
      // Cancel requests are a handful of rows; old ones simply go.
      await client.query('DELETE FROM probe_cancel_requests WHERE requested_at < $1', [before]);
      return {
        exchanges: exchanges.rowCount ?? 0,
        sessions: sessions.rowCount ?? 0,
        probeRuns: probeRuns.rowCount ?? 0,
        credentials: credentials.rowCount ?? 0,
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      // A broken connection is dropped from the pool rather than reused.
      await client.query('ROLLBACK').catch(() => {});
      client.release(err as Error);
      throw err;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('storage: the PostgreSQL store is closed');
  }
}

function exchangeFilters(q: ListQuery): SQL[] {
  const e = schema.exchanges;
  const where: SQL[] = [];
  if (q.upstream !== undefined) where.push(eq(e.upstream, q.upstream));
  if (q.since !== undefined) where.push(gte(e.startedAt, q.since));
  return where;
}

function flagValues(
  id: string,
  flags: Parameters<ObservationStore['setUpstreamFlags']>[1],
  updatedAt: number,
): unknown[] {
  return [
    id,
    flags.transport ?? null,
    flags.stateless ?? null,
    flags.validatesSessionIds ?? null,
    updatedAt,
    flags.stateless !== undefined,
    flags.validatesSessionIds !== undefined,
  ];
}

function message(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return message(err.errors[0]);
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}
