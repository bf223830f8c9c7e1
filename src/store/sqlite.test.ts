import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchangeRecord } from '../../test/helpers/records.js';
import type { ExchangeRecord, SessionRecord } from '../sessions/types.js';
import { openStore, parseStoreUrl } from './index.js';
import { MIGRATIONS_FOLDER, openSqliteStore, redactUrl, type SqliteObservationStore } from './sqlite.js';
import type { ProbeRunRow } from './types.js';

function exchange(over: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return exchangeRecord(over);
}

function session(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    upstream: 'linear',
    source: 'proxy',
    sessionHash: 'abcdef0123456789',
    transport: 'streamable-http',
    openedAt: 1_700_000_000_000,
    adopted: false,
    initLatencyMs: null,
    initializedAt: null,
    protocolVersion: null,
    clientName: null,
    clientVersion: null,
    serverName: null,
    serverVersion: null,
    exchanges: 1,
    lastActivityAt: 1_700_000_000_000,
    endedAt: null,
    endReason: null,
    ...over,
  };
}

/** Every field set to a non-default value, so a dropped column shows up. */
const fullExchange = exchange({
  upstream: 'atlassian',
  source: 'probe',
  probeRunId: 'run-1',
  transport: 'sse',
  sessionHash: '0123456789abcdef',
  httpMethod: 'POST',
  rpcMethod: 'tools/call',
  rpcCount: 3,
  toolName: 'search_issues',
  rpcId: '42',
  startedAt: 1_700_000_001_000,
  headersAt: 1_700_000_001_100,
  responseAt: 1_700_000_001_150,
  endedAt: 1_700_000_001_200,
  httpStatus: 404,
  outcome: 'session_expired',
  confidence: 'spec',
  idleGapMs: 300_000.5,
  sessionAgeMs: 900_000.25,
  streamAttached: true,
  exchangesBefore: 7,
  protocolVersion: '2025-06-18',
  callerHash: 'feedfacefeedface',
  rpcErrorCode: -32001,
  errorMessage: 'Session not found',
});

const fullSession = session({
  upstream: 'atlassian',
  source: 'probe',
  sessionHash: '0123456789abcdef',
  transport: 'sse',
  openedAt: 1_700_000_000_000,
  adopted: true,
  initLatencyMs: 812.5,
  initializedAt: 1_700_000_000_900,
  protocolVersion: '2025-06-18',
  clientName: 'claude',
  clientVersion: '1.2.3',
  serverName: 'atlassian-mcp',
  serverVersion: '4.5.6',
  exchanges: 9,
  lastActivityAt: 1_700_000_005_000,
  endedAt: 1_700_000_006_000,
  endReason: 'expired',
});

let dir: string;
let store: SqliteObservationStore;
let dbPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-probe-store-'));
  dbPath = join(dir, 'nested', 'deeper', 'probe.db');
  store = openSqliteStore({ path: dbPath, now: () => 1_700_000_009_000 });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('openSqliteStore', () => {
  it('creates parent directories and uses WAL with synchronous=NORMAL', () => {
    expect(existsSync(dbPath)).toBe(true);
    expect(store.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    // NORMAL = 1
    expect(store.sqlite.pragma('synchronous', { simple: true })).toBe(1);
    expect(store.sqlite.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
  });

  it('applies migrations idempotently (reopen and migrate() again)', async () => {
    await store.migrate();
    await store.migrate();
    await store.close();
    store = openSqliteStore({ path: dbPath });
    await store.migrate();
    const applied = store.sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as {
      n: number;
    };
    const tables = store.sqlite
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all()
      .map((r) => (r as { name: string }).name);
    expect(tables).toEqual([
      '__drizzle_migrations',
      'credentials',
      'exchanges',
      'probe_runs',
      'sessions',
      'upstreams',
    ]);
    expect(applied.n).toBeGreaterThanOrEqual(1);
    // Still exactly one row per migration file after three migrate() calls.
    const again = store.sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as {
      n: number;
    };
    expect(again.n).toBe(applied.n);
  });

  it('upgrades a database made before 0003: exchanges keep their ids, new ones follow, no sequence row is kept', async () => {
    // A migrations folder that stops before 0003, as an older release shipped it.
    const old = join(dir, 'old-migrations');
    mkdirSync(join(old, 'meta'), { recursive: true });
    const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
      entries: { tag: string }[];
    };
    journal.entries = journal.entries.filter((e) => e.tag < '0003');
    writeFileSync(join(old, 'meta', '_journal.json'), JSON.stringify(journal));
    for (const e of journal.entries)
      copyFileSync(join(MIGRATIONS_FOLDER, `${e.tag}.sql`), join(old, `${e.tag}.sql`));
    const oldPath = join(dir, 'old.db');
    const sqlite = new Database(oldPath);
    migrate(drizzle(sqlite), { migrationsFolder: old });
    const insert = sqlite.prepare(
      `INSERT INTO exchanges (id, upstream, source, transport, http_method, rpc_count, started_at, outcome, stream_attached)
       VALUES (?, 'linear', 'proxy', 'streamable-http', 'POST', 1, ?, ?, 0)`,
    );
    insert.run(5, 1000, 'ok');
    insert.run(9, 2000, 'session_expired');
    expect(sqlite.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'exchanges'").get()).toEqual({
      seq: 9,
    });
    sqlite.close();

    const upgraded = openSqliteStore({ path: oldPath });
    try {
      const ddl = upgraded.sqlite.prepare("SELECT sql FROM sqlite_master WHERE name = 'exchanges'").get() as {
        sql: string;
      };
      expect(ddl.sql).not.toMatch(/AUTOINCREMENT/i);
      expect(upgraded.sqlite.prepare("SELECT * FROM sqlite_sequence WHERE name = 'exchanges'").all()).toEqual(
        [],
      );
      const indexes = upgraded.sqlite
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'exchanges' ORDER BY name",
        )
        .all()
        .map((r) => (r as { name: string }).name);
      expect(indexes).toEqual([
        'exchanges_expired_started_idx',
        'exchanges_expired_upstream_started_idx',
        'exchanges_upstream_started_idx',
      ]);
      await upgraded.write([
        { type: 'exchange', exchange: exchange({ upstream: 'linear', startedAt: 3000 }) },
      ]);
      const rows = await upgraded.listExchanges({ upstream: 'linear' });
      expect(rows.map((r) => [r.id, r.startedAt, r.outcome])).toEqual([
        [5, 1000, 'ok'],
        [9, 2000, 'session_expired'],
        [10, 3000, 'ok'],
      ]);
      expect((await upgraded.listExpirations({})).map((r) => r.id)).toEqual([9]);
    } finally {
      await upgraded.close();
    }
  });

  it('works in memory', async () => {
    const mem = openSqliteStore({ path: ':memory:' });
    await mem.write([{ type: 'exchange', exchange: exchange() }]);
    expect(await mem.listExchanges({})).toHaveLength(1);
    await mem.close();
  });

  it('has no column for raw session ids, headers, tokens or query strings', () => {
    const columns = ['upstreams', 'sessions', 'exchanges', 'probe_runs'].flatMap((t) =>
      store.sqlite
        .prepare(`SELECT name FROM pragma_table_info('${t}')`)
        .all()
        .map((r) => (r as { name: string }).name),
    );
    for (const c of columns) {
      expect(c).not.toMatch(
        /^session_id$|^headers?$|header_|token|query|authorization|cookie|secret|password/i,
      );
    }
    expect(columns).toContain('session_hash');
  });
});

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

  it('stores JSON-RPC ids as text and booleans as integers', async () => {
    await store.write([{ type: 'exchange', exchange: exchange({ rpcId: '7', streamAttached: true }) }]);
    const raw = store.sqlite.prepare('SELECT typeof(rpc_id) AS t, stream_attached AS s FROM exchanges').get();
    expect(raw).toEqual({ t: 'text', s: 1 });
  });

  it('writes a mixed batch in one transaction, all or nothing', async () => {
    const bad = { ...exchange(), outcome: null } as unknown as ExchangeRecord;
    await expect(
      store.write([
        { type: 'exchange', exchange: exchange() },
        { type: 'session', session: session() },
        { type: 'exchange', exchange: bad },
      ]),
    ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_NOTNULL' });
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
          // Changing these later has no effect: the first sighting wins.
          openedAt: 999_999,
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
    store = openSqliteStore({ path: dbPath });
    expect(await store.listExchanges({})).toEqual([{ id: 1, ...fullExchange }]);
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

  it('answers expirations from the partial indexes, which ordinary exchanges never touch', () => {
    const plan = (where: string) =>
      store.sqlite
        .prepare(
          `EXPLAIN QUERY PLAN SELECT * FROM exchanges WHERE "exchanges"."outcome" = 'session_expired' ${where} ORDER BY started_at DESC, id DESC LIMIT 5`,
        )
        .all()
        .map((row) => (row as { detail: string }).detail)
        .join('; ');
    expect(plan("AND upstream = 'even'")).toMatch(/USING INDEX exchanges_expired_upstream_started_idx/);
    expect(plan('')).toMatch(/USING INDEX exchanges_expired_started_idx/);
    expect(plan('')).not.toMatch(/TEMP B-TREE/);
    const indexes = store.sqlite
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'exchanges' AND sql IS NOT NULL",
      )
      .all()
      .map((row) => (row as { name: string }).name);
    // One index maintained per proxied request; the other two only for expirations.
    expect(indexes.sort()).toEqual([
      'exchanges_expired_started_idx',
      'exchanges_expired_upstream_started_idx',
      'exchanges_upstream_started_idx',
    ]);
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

function probeRun(id: string, startedAt: number, over: Partial<ProbeRunRow> = {}): ProbeRunRow {
  return {
    id,
    status: 'done',
    mode: 'ladder',
    upstreams: ['linear', 'atlassian'],
    startedAt,
    finishedAt: startedAt + 60_000,
    heartbeatAt: startedAt + 60_000,
    result: { id, results: [{ upstream: 'linear', checkpoints: [{ success: true }] }] },
    ...over,
  };
}

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

  it('redacts userinfo, query and fragment from URLs', () => {
    expect(redactUrl('https://u:p@host:8443/mcp?key=1#x')).toBe('https://host:8443/mcp');
    expect(redactUrl('not a url?token=1')).toBe('not a url');
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

  it('looking for interrupted runs needs no write lock when there are none (it runs every 15 s beside other writers)', async () => {
    await store.saveProbeRun(
      probeRun('alive', 1000, { status: 'running', finishedAt: null, heartbeatAt: 9000 }),
    );
    // Another process (a CLI probe's recorder) holds the write lock.
    const other = new Database(dbPath);
    other.exec('BEGIN IMMEDIATE');
    try {
      expect(await store.failInterruptedProbeRuns(8000, 'interrupted')).toEqual([]);
      // With a stale row it must write, and so waits for the lock (busy_timeout 50 ms) and fails.
      await expect(store.failInterruptedProbeRuns(10_000, 'interrupted')).rejects.toMatchObject({
        code: 'SQLITE_BUSY',
      });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.failInterruptedProbeRuns(10_000, 'interrupted')).toEqual(['alive']);
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
    expect(await store.prune(before, 2)).toEqual({ exchanges: 2, sessions: 1, probeRuns: 1 });
    // The two oldest went first.
    const left = (await store.listExchanges({ limit: 100 })).map((e) => e.rpcId);
    expect(left).toEqual(['old3', 'old2', 'old1', 'new']);
    expect(await store.prune(before, 2)).toEqual({ exchanges: 2, sessions: 0, probeRuns: 0 });
    expect(await store.prune(before, 2)).toEqual({ exchanges: 1, sessions: 0, probeRuns: 0 });
    expect(await store.prune(before, 2)).toEqual({ exchanges: 0, sessions: 0, probeRuns: 0 });
    expect((await store.listExchanges({ limit: 100 })).map((e) => e.rpcId)).toEqual(['new']);
    expect((await store.listSessions({})).map((x) => x.sessionHash)).toEqual(['busy']);
    expect((await store.listProbeRuns({})).map((r) => r.id).sort()).toEqual(['recent', 'running']);
  });

  it('reads only the oldest maxRows exchanges: a row recorded late waits until those before it age out', async () => {
    const DAY = 86_400_000;
    const T = 1_700_000_000_000;
    await store.write([
      { type: 'exchange', exchange: exchange({ startedAt: T - 9 * DAY, rpcId: 'a' }) },
      { type: 'exchange', exchange: exchange({ startedAt: T, rpcId: 'young' }) },
      { type: 'exchange', exchange: exchange({ startedAt: T - 9 * DAY, rpcId: 'late' }) },
    ]);
    expect(await store.prune(T - DAY, 1)).toMatchObject({ exchanges: 1 });
    // The oldest id left is young: the call stops there, without reading further.
    expect(await store.prune(T - DAY, 1)).toMatchObject({ exchanges: 0 });
    expect((await store.listExchanges({ limit: 100 })).map((e) => e.rpcId)).toEqual(['late', 'young']);
    // Once the young one is old too, both go.
    expect(await store.prune(T + DAY, 1)).toMatchObject({ exchanges: 1 });
    expect(await store.prune(T + DAY, 1)).toMatchObject({ exchanges: 1 });
    expect(await store.listExchanges({ limit: 100 })).toEqual([]);
  });
});

describe('openStore(url)', () => {
  it('parses sqlite URLs and bare paths', () => {
    expect(parseStoreUrl('sqlite:./data/x.db')).toEqual({ kind: 'sqlite', path: './data/x.db' });
    expect(parseStoreUrl('sqlite::memory:')).toEqual({ kind: 'sqlite', path: ':memory:' });
    expect(parseStoreUrl('sqlite:///var/lib/x.db')).toEqual({ kind: 'sqlite', path: '/var/lib/x.db' });
    expect(parseStoreUrl('./x.db')).toEqual({ kind: 'sqlite', path: './x.db' });
    expect(parseStoreUrl('/abs/x.db')).toEqual({ kind: 'sqlite', path: '/abs/x.db' });
    expect(parseStoreUrl('postgres://u@h/db')).toEqual({ kind: 'postgres', url: 'postgres://u@h/db' });
    expect(() => parseStoreUrl('mysql://h/db')).toThrow(/storage.url: scheme "mysql:"/);
    expect(() => parseStoreUrl('sqlite:')).toThrow(/has no path/);
  });

  it('opens SQLite from a URL and rejects postgres clearly', async () => {
    const s = await openStore(`sqlite:${join(dir, 'via-url.db')}`);
    expect(s.kind).toBe('sqlite');
    await s.close();
    expect(existsSync(join(dir, 'via-url.db'))).toBe(true);
    await expect(openStore('postgres://localhost/probe')).rejects.toThrow(
      'storage.url: postgres is not implemented yet; use sqlite:PATH',
    );
  });

  it('names the file when it cannot be opened', () => {
    const notADb = join(dir, 'garbage.db');
    writeFileSync(notADb, 'this is not a database'.repeat(100));
    expect(() => openSqliteStore({ path: notADb })).toThrow(
      /storage: cannot open SQLite database ".*garbage.db"/,
    );
  });
});
