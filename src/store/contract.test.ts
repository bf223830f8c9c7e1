// The store contract (src/store/types.ts), run against every dialect: SQLite in a temporary file
// and PostgreSQL in a fresh database on the run's throwaway server (test/setup/postgres.ts).
// What only one dialect does (SQLite's pragmas and query plans) is tested beside it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { testDatabase } from '../../test/helpers/postgres.js';
import { exchange, fullExchange, fullSession, probeRun, session } from '../../test/helpers/storeFixtures.js';
import { buildUpstreamReport } from '../analysis/report.js';
import type { ExchangeRecord } from '../sessions/types.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { ObservationStore } from './types.js';

const NOW = () => 1_700_000_009_000;

interface Dialect {
  name: 'sqlite' | 'postgres';
  /** The error code of a NOT NULL violation. */
  notNullCode: string;
  setup(): Promise<void>;
  /** An empty store. */
  fresh(): Promise<ObservationStore>;
  /** The same database, opened again. */
  reopen(): Promise<ObservationStore>;
  teardown(): Promise<void>;
}

function sqliteDialect(): Dialect {
  let dir = '';
  let path = '';
  return {
    name: 'sqlite',
    notNullCode: 'SQLITE_CONSTRAINT_NOTNULL',
    async setup() {},
    async fresh() {
      dir = mkdtempSync(join(tmpdir(), 'mcp-probe-store-'));
      path = join(dir, 'probe.db');
      return openSqliteStore({ path, now: NOW });
    },
    async reopen() {
      return openSqliteStore({ path, now: NOW });
    },
    async teardown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresDialect(): Dialect {
  let url = '';
  return {
    name: 'postgres',
    notNullCode: '23502',
    async setup() {
      url = await testDatabase(inject('postgresUrl'), 'contract');
      // Migrate once; each test then starts from empty tables.
      await (await openPostgresStore({ url })).close();
    },
    async fresh() {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(
        'TRUNCATE exchanges, sessions, upstreams, probe_runs, probe_schedule_claims, probe_cancel_requests, credentials',
      );
      await admin.end();
      return openPostgresStore({ url, now: NOW });
    },
    async reopen() {
      return openPostgresStore({ url, now: NOW });
    },
    async teardown() {},
  };
}

const dialects = [sqliteDialect(), ...(inject('postgresUrl') ? [postgresDialect()] : [])];

describe.each(dialects)('store contract on $name', (h) => {
  let store: ObservationStore;

  beforeAll(() => h.setup());
  beforeEach(async () => {
    store = await h.fresh();
  });
  afterEach(async () => {
    await store.close();
  });
  afterAll(() => h.teardown());

  describe('write and read back', () => {
    it('round-trips every exchange field', async () => {
      await store.write([{ type: 'exchange', exchange: fullExchange }]);
      const [row] = await store.listExchanges({});
      expect(row).toEqual({ id: expect.any(Number), ...fullExchange });
      const [expired] = await store.listExpirations({});
      expect(expired).toEqual(row);
    });

    it('round-trips every session field', async () => {
      await store.write([{ type: 'session', session: fullSession }]);
      expect(await store.listSessions({})).toEqual([fullSession]);
    });

    it('writes a mixed batch in one transaction, all or nothing', async () => {
      const bad = { ...exchange(), outcome: null } as unknown as ExchangeRecord;
      await expect(
        store.write([
          { type: 'exchange', exchange: exchange() },
          { type: 'session', session: session() },
          { type: 'exchange', exchange: bad },
        ]),
      ).rejects.toMatchObject({ code: h.notNullCode });
      expect(await store.listExchanges({})).toEqual([]);
      expect(await store.listSessions({})).toEqual([]);
    });

    it('upserts sessions: later records overwrite progress and fill in, never erase, handshake details', async () => {
      await store.write([
        { type: 'session', session: session({ exchanges: 1, lastActivityAt: 1000 }) },
        {
          type: 'session',
          session: session({
            exchanges: 2,
            lastActivityAt: 2000,
            initLatencyMs: 900,
            initializedAt: 1900,
            protocolVersion: '2025-06-18',
            clientName: 'agent',
            clientVersion: '1',
            serverName: 'srv',
            serverVersion: '2',
          }),
        },
      ]);
      await store.write([
        {
          type: 'session',
          session: session({
            exchanges: 5,
            lastActivityAt: 5000,
            endedAt: 6000,
            endReason: 'expired',
            // A later first sight (another replica adopting it) moves nothing: the earliest wins.
            openedAt: 1_800_000_000_000,
            adopted: true,
            transport: 'sse',
          }),
        },
      ]);
      const rows = await store.listSessions({});
      expect(rows).toHaveLength(1);
      expect(rows[0]).toEqual(
        session({
          exchanges: 5,
          lastActivityAt: 5000,
          endedAt: 6000,
          endReason: 'expired',
          initLatencyMs: 900,
          initializedAt: 1900,
          protocolVersion: '2025-06-18',
          clientName: 'agent',
          clientVersion: '1',
          serverName: 'srv',
          serverVersion: '2',
        }),
      );
    });

    it('never rolls a session back: an older snapshot written late keeps newer progress, an earlier opening wins', async () => {
      // Replica B adopted the session (opening unknown: its first sight) and moved it on ...
      await store.write([
        {
          type: 'session',
          session: session({ openedAt: 5000, adopted: true, exchanges: 9, lastActivityAt: 9000 }),
        },
      ]);
      // ... then replica A writes what it buffered through a store outage: the true opening, older progress.
      await store.write([
        {
          type: 'session',
          session: session({
            openedAt: 1000,
            adopted: false,
            exchanges: 3,
            lastActivityAt: 4000,
            endedAt: 4000,
            endReason: 'deleted',
          }),
        },
      ]);
      expect(await store.getSession('linear', 'proxy', 'abcdef0123456789')).toEqual(
        session({ openedAt: 1000, adopted: false, exchanges: 9, lastActivityAt: 9000 }),
      );
    });

    it('keeps sessions apart by upstream and source', async () => {
      await store.write([
        { type: 'session', session: session({ upstream: 'a', source: 'proxy' }) },
        { type: 'session', session: session({ upstream: 'a', source: 'probe' }) },
        { type: 'session', session: session({ upstream: 'b', source: 'proxy', exchanges: 7 }) },
      ]);
      expect(await store.listSessions({})).toHaveLength(3);
      expect(await store.getSession('b', 'proxy', 'abcdef0123456789')).toEqual(
        session({ upstream: 'b', source: 'proxy', exchanges: 7 }),
      );
      expect(await store.getSession('b', 'probe', 'abcdef0123456789')).toBeNull();
      expect(await store.getSession('a', 'proxy', 'someone-else')).toBeNull();
      expect(await store.listSessions({ upstream: 'a' })).toHaveLength(2);
    });

    it('sets the stateless flag from an observation, creating the upstream if needed', async () => {
      await store.write([{ type: 'upstream-stateless', upstream: 'stateless-one', stateless: true }]);
      expect(await store.listUpstreams()).toEqual([
        {
          id: 'stateless-one',
          name: 'stateless-one',
          url: '',
          transport: 'streamable-http',
          stateless: true,
          validatesSessionIds: null,
        },
      ]);
    });

    it('records survive close and reopen', async () => {
      await store.write([
        { type: 'exchange', exchange: fullExchange },
        { type: 'session', session: fullSession },
      ]);
      await store.saveProbeRun(probeRun('run-1', 1000));
      await store.close();
      store = await h.reopen();
      expect(await store.listExchanges({})).toEqual([{ id: expect.any(Number), ...fullExchange }]);
      expect(await store.listSessions({})).toEqual([fullSession]);
      expect(await store.getProbeRun('run-1')).toEqual(probeRun('run-1', 1000));
    });
  });

  describe('lists', () => {
    beforeEach(async () => {
      const batch = [];
      for (let i = 0; i < 30; i++) {
        const upstream = i % 2 === 0 ? 'even' : 'odd';
        batch.push({
          type: 'exchange' as const,
          exchange: exchange({
            upstream,
            startedAt: 1000 + i,
            source: i % 3 === 0 ? ('probe' as const) : ('proxy' as const),
            outcome: i % 5 === 0 ? ('session_expired' as const) : ('ok' as const),
            rpcId: String(i),
          }),
        });
        batch.push({
          type: 'session' as const,
          session: session({
            upstream,
            sessionHash: `hash-${i}`,
            openedAt: 1000 + i,
            lastActivityAt: 2000 + i,
          }),
        });
      }
      await store.write(batch);
    });

    it('lists exchanges oldest first, filtered by upstream, source and since', async () => {
      const all = await store.listExchanges({});
      expect(all.map((e) => e.startedAt)).toEqual(Array.from({ length: 30 }, (_, i) => 1000 + i));
      const odd = await store.listExchanges({ upstream: 'odd' });
      expect(odd.every((e) => e.upstream === 'odd')).toBe(true);
      expect(odd).toHaveLength(15);
      const probe = await store.listExchanges({ source: 'probe' });
      expect(probe.map((e) => e.rpcId)).toEqual(['0', '3', '6', '9', '12', '15', '18', '21', '24', '27']);
      const since = await store.listExchanges({ since: 1025 });
      expect(since.map((e) => e.startedAt)).toEqual([1025, 1026, 1027, 1028, 1029]);
    });

    it('limits exchanges to the most recent rows, still oldest first', async () => {
      const last = await store.listExchanges({ limit: 3 });
      expect(last.map((e) => e.startedAt)).toEqual([1027, 1028, 1029]);
    });

    it('lists expirations newest first', async () => {
      const exp = await store.listExpirations({});
      expect(exp.map((e) => e.startedAt)).toEqual([1025, 1020, 1015, 1010, 1005, 1000]);
      expect((await store.listExpirations({ upstream: 'even' })).map((e) => e.startedAt)).toEqual([
        1020, 1010, 1000,
      ]);
      expect((await store.listExpirations({ limit: 2, since: 1006 })).map((e) => e.startedAt)).toEqual([
        1025, 1020,
      ]);
    });

    it('lists sessions newest first, since = active at or after', async () => {
      const s = await store.listSessions({ limit: 4 });
      expect(s.map((x) => x.openedAt)).toEqual([1029, 1028, 1027, 1026]);
      const odd = await store.listSessions({ upstream: 'odd', since: 2025 });
      expect(odd.map((x) => x.sessionHash)).toEqual(['hash-29', 'hash-27', 'hash-25']);
    });

    it('clamps limit: default 100, at most 10000, at least 1', async () => {
      const many = Array.from({ length: 10_050 }, (_, i) => ({
        type: 'exchange' as const,
        exchange: exchange({ startedAt: 5000 + i }),
      }));
      await store.write(many);
      expect(await store.listExchanges({})).toHaveLength(100);
      expect(await store.listExchanges({ limit: 1_000_000 })).toHaveLength(10_000);
      expect(await store.listExchanges({ limit: 0 })).toHaveLength(1);
    });
  });

  describe('upstreams and probe runs', () => {
    it('upserts upstreams without their credentials and keeps measured flags', async () => {
      await store.upsertUpstreams([
        {
          id: 'linear',
          name: 'Linear',
          url: 'https://user:pass@mcp.linear.app/mcp?token=secret#frag',
          transport: 'streamable-http',
          stateless: null,
          validatesSessionIds: null,
        },
      ]);
      await store.setUpstreamFlags('linear', { validatesSessionIds: false });
      await store.setUpstreamFlags('linear', { stateless: false, transport: 'sse' });
      // A config reload that does not know the flags leaves them alone.
      await store.upsertUpstreams([
        {
          id: 'linear',
          name: 'Linear (renamed)',
          url: 'https://mcp.linear.app/mcp',
          transport: 'streamable-http',
          stateless: null,
          validatesSessionIds: null,
        },
      ]);
      expect(await store.listUpstreams()).toEqual([
        {
          id: 'linear',
          name: 'Linear (renamed)',
          url: 'https://mcp.linear.app/mcp',
          transport: 'streamable-http',
          stateless: false,
          validatesSessionIds: false,
        },
      ]);
      await store.setUpstreamFlags('linear', { validatesSessionIds: null });
      expect((await store.listUpstreams())[0]).toMatchObject({ stateless: false, validatesSessionIds: null });
    });

    it('saves, updates, gets and lists probe runs', async () => {
      await store.saveProbeRun(probeRun('r1', 1000, { status: 'running', finishedAt: null, result: null }));
      await store.saveProbeRun(probeRun('r2', 2000, { upstreams: ['atlassian'] }));
      await store.saveProbeRun(probeRun('r1', 1000));
      expect(await store.getProbeRun('r1')).toEqual(probeRun('r1', 1000));
      expect(await store.getProbeRun('missing')).toBeNull();
      expect((await store.listProbeRuns({})).map((r) => r.id)).toEqual(['r2', 'r1']);
      expect((await store.listProbeRuns({ upstream: 'linear' })).map((r) => r.id)).toEqual(['r1']);
      expect((await store.listProbeRuns({ since: 1500 })).map((r) => r.id)).toEqual(['r2']);
    });

    it('fails running runs whose heartbeat stopped, and only those', async () => {
      const snapshot = (id: string) => ({ id, status: 'running', fatalError: null, results: [] });
      // Died: last heartbeat at 5000. Alive: heartbeat at 9000. A row from before heartbeats
      // existed (null) counts from its start. A finished run is never touched.
      await store.saveProbeRun(
        probeRun('dead', 1000, {
          status: 'running',
          finishedAt: null,
          heartbeatAt: 5000,
          result: snapshot('dead'),
        }),
      );
      await store.saveProbeRun(
        probeRun('alive', 1000, {
          status: 'running',
          finishedAt: null,
          heartbeatAt: 9000,
          result: snapshot('alive'),
        }),
      );
      await store.saveProbeRun(
        probeRun('old', 2000, { status: 'running', finishedAt: null, heartbeatAt: null, result: null }),
      );
      await store.saveProbeRun(probeRun('finished', 1000, { heartbeatAt: 1500 }));

      const failed = await store.failInterruptedProbeRuns(8000, 'interrupted');
      expect(failed.sort()).toEqual(['dead', 'old']);

      const dead = await store.getProbeRun('dead');
      expect(dead).toMatchObject({ status: 'failed', finishedAt: 5000, heartbeatAt: 5000 });
      expect(dead?.result).toMatchObject({
        id: 'dead',
        status: 'failed',
        fatalError: 'interrupted',
        results: [],
      });
      expect(await store.getProbeRun('old')).toMatchObject({
        status: 'failed',
        finishedAt: 2000,
        result: null,
      });
      expect(await store.getProbeRun('alive')).toMatchObject({ status: 'running', finishedAt: null });
      expect(await store.getProbeRun('finished')).toEqual(probeRun('finished', 1000, { heartbeatAt: 1500 }));
      // A fatal error the run had already recorded is kept.
      await store.saveProbeRun(
        probeRun('err', 1000, {
          status: 'running',
          finishedAt: null,
          heartbeatAt: 1000,
          result: { ...snapshot('err'), fatalError: 'upstream said no' },
        }),
      );
      expect(await store.failInterruptedProbeRuns(8000, 'interrupted')).toEqual(['err']);
      expect((await store.getProbeRun('err'))?.result).toMatchObject({ fatalError: 'upstream said no' });
      expect(await store.failInterruptedProbeRuns(8000, 'interrupted')).toEqual([]);
    });
  });

  describe('replicas sharing the store', () => {
    it('claims a schedule period once: the first to ask runs it, the others wait for the next period', async () => {
      const PERIOD = 60_000;
      const claims = await Promise.all(
        [1, 2, 3].map(() => store.claimScheduledProbe('linear', 100_000, PERIOD)),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      // Another replica's timer fires 20 s later: the same period.
      expect(await store.claimScheduledProbe('linear', 120_000, PERIOD)).toBe(false);
      // Other upstreams have their own schedule.
      expect(await store.claimScheduledProbe('atlassian', 120_000, PERIOD)).toBe(true);
      // A timer firing a little early (jitter, clock skew) still gets the next period.
      expect(await store.claimScheduledProbe('linear', 100_000 + PERIOD - 2_000, PERIOD)).toBe(true);
      expect(await store.claimScheduledProbe('linear', 100_000 + PERIOD + 1_000, PERIOD)).toBe(false);
    });

    it('passes a cancel to whoever runs the probe, and only for running runs', async () => {
      await store.saveProbeRun(probeRun('run-a', 1000, { status: 'running', finishedAt: null }));
      await store.saveProbeRun(probeRun('run-b', 1000, { status: 'running', finishedAt: null }));
      await store.saveProbeRun(probeRun('finished', 1000));
      expect(await store.listProbeCancelRequests(['run-a', 'run-b'])).toEqual([]);
      expect(await store.requestProbeCancel('run-a', 2000)).toBe(true);
      expect(await store.requestProbeCancel('run-a', 2500)).toBe(true);
      expect(await store.requestProbeCancel('finished', 2000)).toBe(false);
      expect(await store.requestProbeCancel('missing', 2000)).toBe(false);
      expect(await store.listProbeCancelRequests(['run-a', 'run-b', 'finished'])).toEqual(['run-a']);
      expect(await store.listProbeCancelRequests([])).toEqual([]);
    });
  });

  describe('credentials', () => {
    it('merges one credential: the earliest first sight, the latest acceptance, the earliest rejection', async () => {
      const c = { upstream: 'linear', credentialHash: 'c1' };
      await store.recordCredential!({ ...c, firstSeenAt: 2000, lastOkAt: 2500, firstRejectedAt: null });
      await store.recordCredential!({ ...c, firstSeenAt: 1000, lastOkAt: 2200, firstRejectedAt: 9000 });
      await store.recordCredential!({ ...c, firstSeenAt: 3000, lastOkAt: null, firstRejectedAt: 8000 });
      await store.recordCredential!({
        upstream: 'linear',
        credentialHash: 'c2',
        firstSeenAt: 5000,
        lastOkAt: null,
        firstRejectedAt: null,
      });
      expect(await store.listCredentials!('linear')).toEqual([
        {
          upstream: 'linear',
          credentialHash: 'c2',
          firstSeenAt: 5000,
          lastOkAt: null,
          firstRejectedAt: null,
        },
        { ...c, firstSeenAt: 1000, lastOkAt: 2500, firstRejectedAt: 8000 },
      ]);
      expect(await store.listCredentials!('other')).toEqual([]);
    });

    it("feed an upstream's lifetime its credential block (what /api/upstreams/:id/lifetime shows)", async () => {
      await store.upsertUpstreams([
        {
          id: 'linear',
          name: 'Linear',
          url: 'https://mcp.linear.app/mcp',
          transport: 'streamable-http',
          stateless: null,
          validatesSessionIds: null,
        },
      ]);
      for (const [i, hash] of ['c1', 'c2'].entries())
        await store.recordCredential!({
          upstream: 'linear',
          credentialHash: hash,
          firstSeenAt: 1000 + i,
          lastOkAt: 2500 + i,
          firstRejectedAt: 3000 + i,
        });
      const report = await buildUpstreamReport(
        store,
        'linear',
        { analysis: { turnGapSeconds: 60 } },
        { now: NOW },
      );
      expect(report?.lifetime.credential).toMatchObject({ observations: 2, rejections: 2 });
      expect(report?.recommendation.reason).toContain('credential expiry, not session expiry');
    });
  });

  describe('prune', () => {
    it('deletes old exchanges, idle sessions and ended probe runs, oldest first, at most maxRows of each per call', async () => {
      const DAY = 86_400_000;
      const T = 1_700_000_000_000;
      await store.write([
        ...[5, 4, 3, 2, 1].map((d) => ({
          type: 'exchange' as const,
          exchange: exchange({ startedAt: T - d * DAY, rpcId: `old${d}` }),
        })),
        { type: 'exchange', exchange: exchange({ startedAt: T, rpcId: 'new' }) },
        {
          type: 'session',
          session: session({ sessionHash: 'idle', openedAt: T - 4 * DAY, lastActivityAt: T - 3 * DAY }),
        },
        // Opened long ago but active since: kept.
        {
          type: 'session',
          session: session({ sessionHash: 'busy', openedAt: T - 9 * DAY, lastActivityAt: T }),
        },
      ]);
      await store.saveProbeRun(probeRun('ended', T - 3 * DAY));
      await store.saveProbeRun(probeRun('recent', T - 1000));
      // Still running (its process decides): never pruned, however old.
      await store.saveProbeRun(probeRun('running', T - 9 * DAY, { status: 'running', finishedAt: null }));

      const before = T - DAY / 2;
      expect(await store.prune(before, 2)).toEqual({
        exchanges: 2,
        sessions: 1,
        probeRuns: 1,
        credentials: 0,
      });
      // The two oldest went first.
      const left = (await store.listExchanges({ limit: 100 })).map((e) => e.rpcId);
      expect(left).toEqual(['old3', 'old2', 'old1', 'new']);
      expect(await store.prune(before, 2)).toMatchObject({ exchanges: 2, sessions: 0, probeRuns: 0 });
      expect(await store.prune(before, 2)).toMatchObject({ exchanges: 1, sessions: 0, probeRuns: 0 });
      expect(await store.prune(before, 2)).toMatchObject({ exchanges: 0, sessions: 0, probeRuns: 0 });
      expect((await store.listExchanges({ limit: 100 })).map((e) => e.rpcId)).toEqual(['new']);
      expect((await store.listSessions({})).map((x) => x.sessionHash)).toEqual(['busy']);
      expect((await store.listProbeRuns({})).map((r) => r.id).sort()).toEqual(['recent', 'running']);
    });

    it('deletes credentials whose last sign (seen, accepted or refused) is older than the cutoff', async () => {
      const T = 1_700_000_000_000;
      const seen = (
        hash: string,
        firstSeenAt: number,
        lastOkAt: number | null,
        firstRejectedAt: number | null,
      ) =>
        store.recordCredential!({
          upstream: 'linear',
          credentialHash: hash,
          firstSeenAt,
          lastOkAt,
          firstRejectedAt,
        });
      await seen('old', T - 9000, T - 8000, null);
      await seen('refused-old', T - 9000, null, T - 7000);
      await seen('used-lately', T - 9000, T - 10, null);
      await seen('refused-lately', T - 9000, null, T - 10);
      await seen('new', T - 10, null, null);
      expect(await store.prune(T - 1000, 1)).toMatchObject({ credentials: 1 });
      expect(await store.prune(T - 1000, 5)).toMatchObject({ credentials: 1 });
      expect(await store.prune(T - 1000, 5)).toMatchObject({ credentials: 0 });
      expect((await store.listCredentials!('linear')).map((c) => c.credentialHash).sort()).toEqual([
        'new',
        'refused-lately',
        'used-lately',
      ]);
    });

    it('numbers exchanges itself when the writer gives no ids, and keeps the ids it is given', async () => {
      const block = await store.reserveExchangeIds();
      const other = await store.reserveExchangeIds();
      // Blocks never overlap, whoever reserved them.
      expect(other.first).toBeGreaterThanOrEqual(block.first + block.count);
      const given = exchange({ rpcId: 'given' });
      await store.write([{ type: 'exchange', exchange: given }], [block.first + 7]);
      // The same id again (the batch resent after a lost acknowledgement): nothing written twice.
      await store.write(
        [
          { type: 'exchange', exchange: given },
          { type: 'exchange', exchange: exchange({ rpcId: 'next' }) },
        ],
        [block.first + 7, block.first + 8],
      );
      await store.write([{ type: 'exchange', exchange: exchange({ rpcId: 'own' }) }]);
      const rows = await store.listExchanges({});
      expect(rows.map((r) => [r.rpcId, r.id])).toEqual([
        ['given', block.first + 7],
        ['next', block.first + 8],
        ['own', expect.any(Number)],
      ]);
      expect(rows[2]!.id).toBeGreaterThanOrEqual(other.first + other.count);
      await expect(store.write([{ type: 'exchange', exchange: exchange() }], [])).rejects.toThrow(
        /0 exchange ids for a batch of 1 exchanges/,
      );
    });
  });
});
