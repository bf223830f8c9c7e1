// The PostgreSQL schema (drizzle): the same tables, columns, keys and indexes as the SQLite
// schema (./schema.ts), in PostgreSQL's types. Both are held to the one store contract
// (./types.ts) by the compiler (below) and to each other by src/store/schema.test.ts.
// Migrations in `drizzle/postgres/` are generated from this file with `npm run db:generate`;
// never edit them by hand.
//
// Times are epoch milliseconds (bigint, read as JS numbers: exact up to 2^53 ms, far beyond any
// clock); durations are milliseconds (double precision); booleans are booleans; JSON is jsonb.

import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgSequence,
  pgTable,
  serial,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { ERAS } from '../sessions/era.js';
import { OUTCOMES } from '../sessions/types.js';
import type { ProbeRunRow, StoredExchange, StoredSession, StoredUpstream } from './types.js';

const SOURCES = ['proxy', 'probe'] as const;
const TRANSPORTS = ['streamable-http', 'sse'] as const;
const CONFIDENCES = ['spec', 'heuristic'] as const;
const END_REASONS = ['deleted', 'expired', 'evicted', 'stream_closed', 'probe_closed'] as const;
const PROBE_STATUSES = ['running', 'done', 'failed', 'cancelled'] as const;

const millis = (name: string) => bigint(name, { mode: 'number' });

export const upstreams = pgTable('upstreams', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** Userinfo and query string removed before storing. */
  url: text('url').notNull(),
  transport: text('transport').notNull(),
  stateless: boolean('stateless'),
  validatesSessionIds: boolean('validates_session_ids'),
  updatedAt: millis('updated_at').notNull(),
});

export const sessions = pgTable(
  'sessions',
  {
    id: serial('id').primaryKey(),
    upstream: text('upstream').notNull(),
    source: text('source', { enum: SOURCES }).notNull(),
    sessionHash: text('session_hash').notNull(),
    transport: text('transport', { enum: TRANSPORTS }).notNull(),
    openedAt: millis('opened_at').notNull(),
    adopted: boolean('adopted').notNull(),
    initLatencyMs: doublePrecision('init_latency_ms'),
    initializedAt: millis('initialized_at'),
    protocolVersion: text('protocol_version'),
    clientName: text('client_name'),
    clientVersion: text('client_version'),
    serverName: text('server_name'),
    serverVersion: text('server_version'),
    exchanges: integer('exchanges').notNull(),
    lastActivityAt: millis('last_activity_at').notNull(),
    endedAt: millis('ended_at'),
    endReason: text('end_reason', { enum: END_REASONS }),
  },
  (t) => [
    uniqueIndex('sessions_upstream_source_hash_uq').on(t.upstream, t.source, t.sessionHash),
    index('sessions_upstream_opened_idx').on(t.upstream, t.openedAt),
    index('sessions_opened_idx').on(t.openedAt),
  ],
);

/**
 * Blocks of exchange ids: each writer (a replica, a probe CLI) takes a block and numbers its rows
 * itself, so a batch retried after a lost connection (its commit may have landed) inserts the same
 * ids again and `ON CONFLICT DO NOTHING` keeps every row once. See docs/postgres.md.
 */
export const exchangeIdBlocks = pgSequence('exchange_id_blocks', { startWith: 1 });

export const exchanges = pgTable(
  'exchanges',
  {
    // Assigned by the writer (block * 2^24 + counter), never by a default: see exchangeIdBlocks.
    id: bigint('id', { mode: 'number' }).primaryKey(),
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
    startedAt: millis('started_at').notNull(),
    headersAt: millis('headers_at'),
    responseAt: millis('response_at'),
    endedAt: millis('ended_at'),
    httpStatus: integer('http_status'),
    outcome: text('outcome', { enum: OUTCOMES }).notNull(),
    confidence: text('confidence', { enum: CONFIDENCES }),
    idleGapMs: doublePrecision('idle_gap_ms'),
    sessionAgeMs: doublePrecision('session_age_ms'),
    streamAttached: boolean('stream_attached').notNull(),
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
    healed: boolean('healed').notNull().default(false),
    healLatencyMs: doublePrecision('heal_latency_ms'),
  },
  // As in SQLite: one ordinary index for the hot path's insert, partial indexes for expirations.
  (t) => [
    index('exchanges_upstream_started_idx').on(t.upstream, t.startedAt),
    index('exchanges_expired_upstream_started_idx')
      .on(t.upstream, t.startedAt)
      .where(sql`${t.outcome} = 'session_expired'`),
    index('exchanges_expired_started_idx').on(t.startedAt).where(sql`${t.outcome} = 'session_expired'`),
  ],
);

export const probeRuns = pgTable(
  'probe_runs',
  {
    id: text('id').primaryKey(),
    status: text('status', { enum: PROBE_STATUSES }).notNull(),
    mode: text('mode').notNull(),
    upstreams: jsonb('upstreams').$type<string[]>().notNull(),
    startedAt: millis('started_at').notNull(),
    finishedAt: millis('finished_at'),
    /** Last sign of life from the process running it (see ./schema.ts). */
    heartbeatAt: millis('heartbeat_at'),
    result: jsonb('result').$type<unknown>(),
  },
  (t) => [index('probe_runs_started_idx').on(t.startedAt)],
);

/**
 * Scheduled probes run once per period across every process sharing the store (replicas): the one
 * that moves `claimed_at` forward by a full period runs it (one conditional upsert; see
 * docs/postgres.md).
 */
export const probeScheduleClaims = pgTable('probe_schedule_claims', {
  upstream: text('upstream').primaryKey(),
  claimedAt: millis('claimed_at').notNull(),
});

/** A cancel asked of a run that another process is running; that process looks every second. */
export const probeCancelRequests = pgTable('probe_cancel_requests', {
  runId: text('run_id').primaryKey(),
  requestedAt: millis('requested_at').notNull(),
});

export type UpstreamRow = typeof upstreams.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type ExchangeRow = typeof exchanges.$inferSelect;
export type ProbeRunDbRow = typeof probeRuns.$inferSelect;

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
export const credentials = pgTable(
  'credentials',
  {
    upstream: text('upstream').notNull(),
    credentialHash: text('credential_hash').notNull(),
    firstSeenAt: millis('first_seen_at').notNull(),
    lastOkAt: millis('last_ok_at'),
    firstRejectedAt: millis('first_rejected_at'),
  },
  (t) => [uniqueIndex('credentials_upstream_hash').on(t.upstream, t.credentialHash)],
);
