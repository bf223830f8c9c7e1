// The SQLite schema (drizzle). Migrations in `drizzle/` are generated from this
// file with `npm run db:generate`; never edit them by hand.
//
// Security: no column holds a raw session id, a header value, a token or a URL
// query string. Sessions are keyed by `session_hash` (src/security/hash.ts) and
// upstream URLs are stored with userinfo and query removed.
//
// Times are epoch milliseconds (integer affinity); durations are milliseconds
// (real, since producers may measure sub-millisecond). Booleans are 0/1.

import { sql } from 'drizzle-orm';
import { index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { ERAS } from '../sessions/era.js';
import { OUTCOMES } from '../sessions/types.js';
import type { ProbeRunRow, StoredExchange, StoredSession, StoredUpstream } from './types.js';

const SOURCES = ['proxy', 'probe'] as const;
const TRANSPORTS = ['streamable-http', 'sse'] as const;
const CONFIDENCES = ['spec', 'heuristic'] as const;
const END_REASONS = ['deleted', 'expired', 'evicted', 'stream_closed', 'probe_closed'] as const;
const PROBE_STATUSES = ['running', 'done', 'failed', 'cancelled'] as const;

export const upstreams = sqliteTable('upstreams', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** Userinfo and query string removed before storing. */
  url: text('url').notNull(),
  transport: text('transport').notNull(),
  stateless: integer('stateless', { mode: 'boolean' }),
  validatesSessionIds: integer('validates_session_ids', { mode: 'boolean' }),
  updatedAt: integer('updated_at').notNull(),
});

export const sessions = sqliteTable(
  'sessions',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    upstream: text('upstream').notNull(),
    source: text('source', { enum: SOURCES }).notNull(),
    sessionHash: text('session_hash').notNull(),
    transport: text('transport', { enum: TRANSPORTS }).notNull(),
    openedAt: integer('opened_at').notNull(),
    adopted: integer('adopted', { mode: 'boolean' }).notNull(),
    initLatencyMs: real('init_latency_ms'),
    initializedAt: integer('initialized_at'),
    protocolVersion: text('protocol_version'),
    clientName: text('client_name'),
    clientVersion: text('client_version'),
    serverName: text('server_name'),
    serverVersion: text('server_version'),
    exchanges: integer('exchanges').notNull(),
    lastActivityAt: integer('last_activity_at').notNull(),
    endedAt: integer('ended_at'),
    endReason: text('end_reason', { enum: END_REASONS }),
  },
  (t) => [
    uniqueIndex('sessions_upstream_source_hash_uq').on(t.upstream, t.source, t.sessionHash),
    index('sessions_upstream_opened_idx').on(t.upstream, t.openedAt),
    index('sessions_opened_idx').on(t.openedAt),
  ],
);

export const exchanges = sqliteTable(
  'exchanges',
  {
    // The rowid, without AUTOINCREMENT: that keeps a `sqlite_sequence` row that every insert
    // statement reads and rewrites, about 0.3 µs a row (docs/decisions/0004-exchanges-table.md).
    // Numbered by the writer from its block of `exchange_id_blocks` (src/store/exchangeIds.ts), so
    // a retried batch skips rows it already wrote. Ids order one writer's rows within a
    // millisecond; they are not exported.
    id: integer('id').primaryKey(),
    upstream: text('upstream').notNull(),
    source: text('source', { enum: SOURCES }).notNull(),
    probeRunId: text('probe_run_id'),
    transport: text('transport', { enum: TRANSPORTS }).notNull(),
    sessionHash: text('session_hash'),
    httpMethod: text('http_method').notNull(),
    rpcMethod: text('rpc_method'),
    rpcCount: integer('rpc_count').notNull(),
    toolName: text('tool_name'),
    /** JSON-RPC ids are strings or numbers on the wire; stored as text. */
    rpcId: text('rpc_id'),
    startedAt: integer('started_at').notNull(),
    headersAt: integer('headers_at'),
    responseAt: integer('response_at'),
    endedAt: integer('ended_at'),
    httpStatus: integer('http_status'),
    outcome: text('outcome', { enum: OUTCOMES }).notNull(),
    confidence: text('confidence', { enum: CONFIDENCES }),
    idleGapMs: real('idle_gap_ms'),
    sessionAgeMs: real('session_age_ms'),
    streamAttached: integer('stream_attached', { mode: 'boolean' }).notNull(),
    exchangesBefore: integer('exchanges_before'),
    protocolVersion: text('protocol_version'),
    /** `2025` or `2026` (src/sessions/era.ts); null when the request did not tell. */
    era: text('era', { enum: ERAS }),
    /** Versions the answer said the upstream speaks, comma-separated. */
    upstreamVersions: text('upstream_versions'),
    callerHash: text('caller_hash'),
    rpcErrorCode: integer('rpc_error_code'),
    errorMessage: text('error_message'),
    /** Heal mode answered the agent from a replacement session after this session error. */
    healed: integer('healed', { mode: 'boolean' }).notNull().default(false),
    healLatencyMs: real('heal_latency_ms'),
  },
  // Every proxied request inserts a row, so each index costs on the hot path's write.
  // Expirations are rare: partial indexes serve /api/expirations without touching the
  // others (queries must say `outcome = 'session_expired'` literally to use them).
  (t) => [
    index('exchanges_upstream_started_idx').on(t.upstream, t.startedAt),
    index('exchanges_expired_upstream_started_idx')
      .on(t.upstream, t.startedAt)
      .where(sql`${t.outcome} = 'session_expired'`),
    index('exchanges_expired_started_idx').on(t.startedAt).where(sql`${t.outcome} = 'session_expired'`),
  ],
);

export const probeRuns = sqliteTable(
  'probe_runs',
  {
    id: text('id').primaryKey(),
    status: text('status', { enum: PROBE_STATUSES }).notNull(),
    mode: text('mode').notNull(),
    upstreams: text('upstreams', { mode: 'json' }).$type<string[]>().notNull(),
    startedAt: integer('started_at').notNull(),
    finishedAt: integer('finished_at'),
    /**
     * Last sign of life from the process running it (every save, and a heartbeat while it
     * waits): a `running` row whose heartbeat stopped belongs to a process that died.
     */
    heartbeatAt: integer('heartbeat_at'),
    result: text('result', { mode: 'json' }).$type<unknown>(),
  },
  (t) => [index('probe_runs_started_idx').on(t.startedAt)],
);

/**
 * Scheduled probes run once per period across every process sharing the store (replicas): the one
 * that moves `claimed_at` forward by a full period runs it (one conditional upsert; see
 * docs/postgres.md).
 */
export const probeScheduleClaims = sqliteTable('probe_schedule_claims', {
  upstream: text('upstream').primaryKey(),
  claimedAt: integer('claimed_at').notNull(),
});

/**
 * Blocks of exchange ids, one row per block handed to a writer (src/store/exchangeIds.ts): ids
 * are numbered by the process that holds the queue, so that a batch sent again writes each row
 * once. PostgreSQL has a sequence for this.
 */
export const exchangeIdBlocks = sqliteTable('exchange_id_blocks', {
  block: integer('block').primaryKey(),
});

/** A cancel asked of a run that another process is running; that process looks every second. */
export const probeCancelRequests = sqliteTable('probe_cancel_requests', {
  runId: text('run_id').primaryKey(),
  requestedAt: integer('requested_at').notNull(),
});

export type UpstreamRow = typeof upstreams.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type ExchangeRow = typeof exchanges.$inferSelect;
export type ProbeRunDbRow = typeof probeRuns.$inferSelect;

// The store's contract types (./types.ts) must stay exactly what these tables
// hold: a column added here without the interface (or the reverse) fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type SchemaMatchesContract = [
  Assert<Same<ExchangeRow, StoredExchange>>,
  Assert<Same<Omit<SessionRow, 'id'>, StoredSession>>,
  Assert<Same<Omit<UpstreamRow, 'updatedAt'>, StoredUpstream>>,
  Assert<Same<Omit<ProbeRunDbRow, 'result'>, Omit<ProbeRunRow, 'result'>>>,
];

/**
 * Credential lifetime (src/analysis/credential.ts): one row per upstream and credential the
 * proxy saw, by keyed hash (src/auth/credentialWatch.ts); never the credential.
 */
export const credentials = sqliteTable(
  'credentials',
  {
    upstream: text('upstream').notNull(),
    credentialHash: text('credential_hash').notNull(),
    firstSeenAt: integer('first_seen_at').notNull(),
    lastOkAt: integer('last_ok_at'),
    firstRejectedAt: integer('first_rejected_at'),
  },
  (t) => [uniqueIndex('credentials_upstream_hash').on(t.upstream, t.credentialHash)],
);
