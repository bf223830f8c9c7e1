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
import { exchange, probeRun } from '../../test/helpers/storeFixtures.js';
import { EXCHANGE_ID_BLOCK_SIZE } from './exchangeIds.js';
import { openStore, parseStoreUrl, StoreUnreachableError } from './index.js';
import { MIGRATIONS_FOLDER, openSqliteStore, redactUrl, type SqliteObservationStore } from './sqlite.js';

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
      'exchange_id_blocks',
      'exchanges',
      'probe_cancel_requests',
      'probe_runs',
      'probe_schedule_claims',
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
        // Numbered from a block above every id written before blocks existed.
        [EXCHANGE_ID_BLOCK_SIZE, 3000, 'ok'],
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
  it('stores JSON-RPC ids as text and booleans as integers', async () => {
    await store.write([{ type: 'exchange', exchange: exchange({ rpcId: '7', streamAttached: true }) }]);
    const raw = store.sqlite.prepare('SELECT typeof(rpc_id) AS t, stream_attached AS s FROM exchanges').get();
    expect(raw).toEqual({ t: 'text', s: 1 });
  });
});

describe('lists', () => {
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
});

describe('upstreams and probe runs', () => {
  it('redacts userinfo, query and fragment from URLs', () => {
    expect(redactUrl('https://u:p@host:8443/mcp?key=1#x')).toBe('https://host:8443/mcp');
    expect(redactUrl('not a url?token=1')).toBe('not a url');
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
});

describe('prune', () => {
  it('takes the oldest rows of each upstream by start, whatever their ids (a row recorded late goes too)', async () => {
    const DAY = 86_400_000;
    const T = 1_700_000_000_000;
    await store.write([
      { type: 'exchange', exchange: exchange({ startedAt: T - 8 * DAY, rpcId: 'a' }) },
      { type: 'exchange', exchange: exchange({ startedAt: T, rpcId: 'young' }) },
      { type: 'exchange', exchange: exchange({ startedAt: T - 9 * DAY, rpcId: 'late' }) },
      { type: 'exchange', exchange: exchange({ upstream: 'zeta', startedAt: T - 7 * DAY, rpcId: 'z' }) },
    ]);
    expect(await store.prune(T - DAY, 1)).toMatchObject({ exchanges: 1 });
    expect((await store.listExchanges({ limit: 100 })).map((e) => e.rpcId)).toEqual(['a', 'z', 'young']);
    expect(await store.prune(T - DAY, 5)).toMatchObject({ exchanges: 2 });
    expect(await store.prune(T - DAY, 5)).toMatchObject({ exchanges: 0 });
    expect((await store.listExchanges({ limit: 100 })).map((e) => e.rpcId)).toEqual(['young']);
    // The plan: seeks in (upstream, started_at), never a scan of the table.
    const plan = store.sqlite
      .prepare(
        'EXPLAIN QUERY PLAN SELECT id FROM exchanges WHERE upstream = ? AND started_at < ? ORDER BY started_at LIMIT ?',
      )
      .all('linear', T, 5)
      .map((r) => (r as { detail: string }).detail)
      .join('\n');
    expect(plan).toMatch(/USING (COVERING )?INDEX exchanges_upstream_started_idx/);
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

  it('opens SQLite from a URL; an unreachable PostgreSQL is named with its password hidden', async () => {
    const s = await openStore(`sqlite:${join(dir, 'via-url.db')}`);
    expect(s.kind).toBe('sqlite');
    await s.close();
    expect(existsSync(join(dir, 'via-url.db'))).toBe(true);
    const unreachable = openStore('postgres://probe:hunter2@127.0.0.1:1/probe?sslpassword=x');
    await expect(unreachable).rejects.toBeInstanceOf(StoreUnreachableError);
    await expect(unreachable).rejects.toThrow(
      /^storage: cannot reach PostgreSQL at postgres:\/\/probe:\*\*\*@127\.0\.0\.1:1\/probe: .*ECONNREFUSED/,
    );
    await expect(unreachable).rejects.not.toThrow(/hunter2|sslpassword/);
  });

  it('names the file when it cannot be opened', () => {
    const notADb = join(dir, 'garbage.db');
    writeFileSync(notADb, 'this is not a database'.repeat(100));
    expect(() => openSqliteStore({ path: notADb })).toThrow(
      /storage: cannot open SQLite database ".*garbage.db"/,
    );
  });
});
