// What only the PostgreSQL store does: migrations raced by replicas starting together, batches
// retried after a lost acknowledgement, the schema kept equal to SQLite's. The shared contract is
// in contract.test.ts.

import { createConnection, createServer, type Socket } from 'node:net';
import { getTableConfig as pgTableConfig } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig } from 'drizzle-orm/sqlite-core';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { testDatabase } from '../../test/helpers/postgres.js';
import { exchange, session } from '../../test/helpers/storeFixtures.js';
import type { Observation } from '../sessions/types.js';
import { openPostgresStore, type PostgresObservationStore, redactDatabaseUrl } from './postgres.js';
import * as sqliteSchema from './schema.js';
import * as pgSchema from './schema.pg.js';

const serverUrl = inject('postgresUrl');
const opened: PostgresObservationStore[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  for (const c of cleanups.splice(0)) await c();
});

/** `url` through the relay on `port`. */
function relayed(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

// A batch's statement ends with the outer INSERT's CommandComplete ("INSERT 0 n"), then the
// ReadyForQuery ('Z', length 5) the server sends once its Sync committed the implicit transaction.
const INSERT_DONE = Buffer.from('INSERT 0 ');
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

/**
 * A TCP relay in front of PostgreSQL that, when asked, cuts the connection once the server has
 * committed a write and before its answer reaches the client: the acknowledgement lost.
 */
async function ackDroppingRelay(target: URL): Promise<{
  port: number;
  dropped: number;
  dropNextCommitAcknowledgement(): void;
}> {
  let armed = false;
  const state = { dropped: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    let held: Buffer[] | null = null;
    upstream.on('data', (chunk: Buffer) => {
      if (held === null && armed && chunk.includes(INSERT_DONE)) held = [];
      if (held === null) {
        client.write(chunk);
        return;
      }
      held.push(chunk);
      if (!Buffer.concat(held).includes(READY_FOR_QUERY, Buffer.concat(held).indexOf(INSERT_DONE))) return;
      armed = false;
      state.dropped++;
      client.destroy();
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port: (server.address() as { port: number }).port,
    get dropped() {
      return state.dropped;
    },
    dropNextCommitAcknowledgement() {
      armed = true;
    },
  };
}

async function open(url: string): Promise<PostgresObservationStore> {
  const store = await openPostgresStore({ url });
  opened.push(store);
  return store;
}

describe('the two schemas', () => {
  it('have the same tables, columns, nullability, primary keys and indexes', () => {
    const shape = (cfg: {
      name: string;
      columns: Array<{ name: string; notNull: boolean; primary: boolean }>;
      indexes: Array<{ config: { name?: string; unique?: boolean } }>;
    }) => ({
      name: cfg.name,
      columns: cfg.columns.map((c) => [c.name, c.notNull, c.primary]).sort(),
      indexes: cfg.indexes.map((i) => [i.config.name, Boolean(i.config.unique)]).sort(),
    });
    const pairs = [
      [pgSchema.upstreams, sqliteSchema.upstreams],
      [pgSchema.sessions, sqliteSchema.sessions],
      [pgSchema.exchanges, sqliteSchema.exchanges],
      [pgSchema.probeRuns, sqliteSchema.probeRuns],
    ] as const;
    for (const [pgTable, sqliteTable] of pairs) {
      expect(shape(pgTableConfig(pgTable) as never)).toEqual(shape(sqliteTableConfig(sqliteTable) as never));
    }
  });
});

describe.skipIf(!serverUrl)('PostgreSQL store', () => {
  it('migrates once when several replicas start at the same moment', async () => {
    const url = await testDatabase(serverUrl, 'race');
    const stores = await Promise.all([open(url), open(url), open(url), open(url)]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
      expect(rows[0].n).toBeGreaterThan(0);
      // Each got its own block of exchange ids.
      const batch = stores.map(
        (_, i): Observation => ({ type: 'exchange', exchange: exchange({ rpcId: `r${i}` }) }),
      );
      await Promise.all(stores.map((s, i) => s.write([batch[i]!])));
      const ids = (await stores[0]!.listExchanges({})).map((e) => e.id);
      expect(new Set(ids).size).toBe(4);
    } finally {
      await client.end();
    }
  });

  it('writes each observation once when the connection drops after the commit and before its acknowledgement', async () => {
    const url = await testDatabase(serverUrl, 'retry');
    const relay = await ackDroppingRelay(new URL(url));
    const store = await open(relayed(url, relay.port));
    const first: Observation[] = [
      { type: 'exchange', exchange: exchange({ rpcId: 'a' }) },
      { type: 'exchange', exchange: exchange({ rpcId: 'b' }) },
      { type: 'session', session: session({ exchanges: 2, lastActivityAt: 2000 }) },
    ];
    relay.dropNextCommitAcknowledgement();
    await expect(store.write(first)).rejects.toThrow();
    const direct = await open(url);
    // The commit landed: the rows are there, though the writer was told it failed.
    expect((await direct.listExchanges({})).map((e) => e.rpcId)).toEqual(['a', 'b']);
    // The recorder retries from the head of its queue: the same records, and newer ones behind them.
    await store.write([...first, { type: 'exchange', exchange: exchange({ rpcId: 'c' }) }]);
    expect((await direct.listExchanges({})).map((e) => e.rpcId)).toEqual(['a', 'b', 'c']);
    expect(await direct.listSessions({})).toMatchObject([{ exchanges: 2 }]);
    // Equal records that are different observations are both kept.
    await store.write([{ type: 'exchange', exchange: exchange({ rpcId: 'a' }) }]);
    expect(await direct.listExchanges({})).toHaveLength(4);
    expect(relay.dropped).toBe(1);
  });

  it('writes several snapshots of one session in one batch (the last one wins)', async () => {
    const store = await open(await testDatabase(serverUrl, 'snapshots'));
    await store.write([
      { type: 'session', session: session({ exchanges: 1, lastActivityAt: 1000 }) },
      { type: 'session', session: session({ exchanges: 2, lastActivityAt: 2000 }) },
    ]);
    expect(await store.listSessions({})).toEqual([session({ exchanges: 2, lastActivityAt: 2000 })]);
  });

  it('reports bad data with a class 22/23 code, which the recorder treats as rejected rather than retried', async () => {
    const store = await open(await testDatabase(serverUrl, 'reject'));
    const bad = { ...exchange(), upstream: null } as unknown as ReturnType<typeof exchange>;
    await expect(store.write([{ type: 'exchange', exchange: bad }])).rejects.toMatchObject({
      code: expect.stringMatching(/^2[23]/),
    });
  });

  it('keeps fractional milliseconds from an injected clock (bigint columns round them)', async () => {
    const store = await open(await testDatabase(serverUrl, 'fraction'));
    await store.write([{ type: 'exchange', exchange: exchange({ startedAt: 1000.4, idleGapMs: 12.25 }) }]);
    expect(await store.listExchanges({})).toMatchObject([{ startedAt: 1000, idleGapMs: 12.25 }]);
  });
});

describe('redactDatabaseUrl', () => {
  it('hides the password and drops the query string', () => {
    expect(
      redactDatabaseUrl('postgres://probe:s3cret@db.internal:5432/probe?sslmode=require&sslpassword=x'),
    ).toBe('postgres://probe:***@db.internal:5432/probe');
    expect(redactDatabaseUrl('postgresql://db/probe')).toBe('postgresql://db/probe');
  });
});
