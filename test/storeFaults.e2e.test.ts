// Store faults under load, against the real CLI: the SQLite `-shm` file (memory-mapped by
// whichever process holds the store) truncated or made immutable, which raises SIGBUS in that
// process; and SIGKILL under load, after which every session's count must match its rows.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { upstreamPool } from './fixtures/upstreams.js';
import { startServe, writeConfig } from './helpers/cli.js';
import { closedLoop } from './helpers/load.js';
import { sleep } from './helpers/proxy.js';

const upstreams = upstreamPool();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await upstreams.closeAll();
});

/** chattr +i needs CAP_LINUX_IMMUTABLE and a filesystem that has the flag (ext4, xfs; not tmpfs). */
function canMakeImmutable(dir: string): boolean {
  const probe = join(dir, 'chattr-probe');
  writeFileSync(probe, '');
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { force: true });
  }
}

/** A 3 MB tmpfs under `dir` (a disk that fills up), or null when mounting is not permitted. */
function tinyDisk(dir: string): string | null {
  const mount = join(dir, 'disk');
  mkdirSync(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mount], { stdio: 'ignore' });
  } catch {
    return null;
  }
  cleanups.push(() => {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  });
  return mount;
}

async function setup(onDisk?: (dir: string) => string | null) {
  const upstream = await upstreams.start({ responseMode: 'json' });
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-store-faults-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dbDir = onDisk?.(dir) ?? dir;
  const dbPath = join(dbDir, 'probe.db');
  const configPath = writeConfig(dir, {
    upstreams: [{ id: 'up', url: upstream.url }],
    server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 5 },
    storage: { url: `sqlite:${dbPath}` },
  });
  const serve = await startServe(configPath, { timeoutMs: 30_000 });
  cleanups.push(() => void serve.child.kill('SIGKILL'));
  return { dir, dbDir, dbPath, serve, mcp: `${serve.url}/mcp/up` };
}

async function recorderState(url: string): Promise<{ queued: number; failing: boolean; dropped: number }> {
  const res = await fetch(`${url}/healthz`);
  return ((await res.json()) as { recorder: { queued: number; failing: boolean; dropped: number } }).recorder;
}

function exchangeRows(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM exchanges').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('a store fault never stops forwarding', () => {
  it('the -shm file truncated under load (SIGBUS where it is mapped): every request answered, nothing lost', async () => {
    const { dbPath, serve, mcp } = await setup();
    const load = closedLoop(mcp, 8);
    await load.answered(100);
    truncateSync(`${dbPath}-shm`, 0);
    const atFault = load.result.sent;
    await load.answered(atFault + 300);
    const result = await load.stop();

    expect(result.errors).toEqual({});
    expect(Object.keys(result.statuses)).toEqual(['200']);
    expect(serve.child.exitCode).toBeNull();
    // The fault did hit: the store process died of it and another took over.
    expect(serve.output()).toMatch(/store process ended.*SIGBUS/);
    // Everything recorded, once: the queue kept what the dead store process had not written.
    await expect
      .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 50 })
      .toMatchObject({
        queued: 0,
        failing: false,
        dropped: 0,
      });
    expect(exchangeRows(dbPath)).toBe(result.sent);
  }, 90_000);

  it('the -shm file made immutable under load: forwarding goes on, recording resumes within 2 s of chattr -i', async (ctx) => {
    const { dir, dbPath, serve, mcp } = await setup();
    if (!canMakeImmutable(dir)) {
      ctx.skip('chattr +i is not permitted here (needs CAP_LINUX_IMMUTABLE on ext4/xfs)');
      return;
    }
    const load = closedLoop(mcp, 8);
    await load.answered(100);
    const shm = `${dbPath}-shm`;
    execFileSync('chattr', ['+i', shm]);
    try {
      await load.answered(load.result.sent + 300);
      await expect
        .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 50 })
        .toMatchObject({
          failing: true,
        });
    } finally {
      execFileSync('chattr', ['-i', shm]);
    }
    const fixedAt = Date.now();
    await expect
      .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 20 })
      .toMatchObject({
        failing: false,
      });
    const recoveredAfterMs = Date.now() - fixedAt;
    const result = await load.stop();

    expect(result.errors).toEqual({});
    expect(Object.keys(result.statuses)).toEqual(['200']);
    expect(serve.child.exitCode).toBeNull();
    expect(serve.output()).toMatch(/store process ended.*SIGBUS/);
    expect(recoveredAfterMs).toBeLessThan(2000);
    await expect
      .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 50 })
      .toMatchObject({
        queued: 0,
        dropped: 0,
      });
    expect(exchangeRows(dbPath)).toBe(result.sent);
  }, 90_000);
});

describe('a full disk', () => {
  it('leaves forwarding up; once there is room again, recording resumes within 2 s and nothing queued is lost', async (ctx) => {
    let mounted = true;
    const { dbDir, dbPath, serve, mcp } = await setup((dir) => {
      const disk = tinyDisk(dir);
      mounted = disk !== null;
      return disk;
    });
    if (!mounted) {
      ctx.skip('mounting a tmpfs is not permitted here (needs CAP_SYS_ADMIN)');
      return;
    }
    const load = closedLoop(mcp, 8);
    await load.answered(100);
    // Fill the disk to the last byte.
    const filler = join(dbDir, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    } catch {
      // dd stops with "No space left on device": that is the point.
    }
    await load.answered(load.result.sent + 1500);
    await expect
      .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 50 })
      .toMatchObject({
        failing: true,
      });
    rmSync(filler);
    const freedAt = Date.now();
    await expect
      .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 20 })
      .toMatchObject({
        failing: false,
      });
    const recoveredAfterMs = Date.now() - freedAt;
    const result = await load.stop();

    expect(result.errors).toEqual({});
    expect(Object.keys(result.statuses)).toEqual(['200']);
    expect(serve.child.exitCode).toBeNull();
    // SQLite reserves every page of its WAL index before mapping it: a full disk is an error, not SIGBUS.
    expect(serve.output()).toMatch(/store write failed.*SQLITE_FULL/);
    expect(recoveredAfterMs).toBeLessThan(2000);
    await expect
      .poll(() => recorderState(serve.url), { timeout: 10_000, interval: 50 })
      .toMatchObject({
        queued: 0,
        dropped: 0,
      });
    expect(exchangeRows(dbPath)).toBe(result.sent);
  }, 90_000);
});

describe('SIGKILL under load', () => {
  it("leaves every session's stored count equal to its stored rows", async () => {
    const { dbPath, serve, mcp } = await setup();
    const load = closedLoop(mcp, 16);
    await load.answered(400);
    serve.child.kill('SIGKILL');
    expect(await serve.exited).toBe('SIGKILL');
    await load.done;
    // The store process sees its parent gone, finishes what it was given and closes.
    await sleep(300);
    const db = new Database(dbPath, { readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT s.session_hash AS session, s.exchanges AS counted,
             (SELECT count(*) FROM exchanges e WHERE e.upstream = s.upstream AND e.source = s.source
                AND e.session_hash = s.session_hash AND e.http_method <> 'GET') AS stored
           FROM sessions s`,
        )
        .all() as Array<{ session: string; counted: number; stored: number }>;
      expect(rows.length).toBe(16);
      // Sessions were in the middle of their work when the process died.
      expect(rows.some((r) => r.counted > 10)).toBe(true);
      expect(rows.filter((r) => r.counted !== r.stored)).toEqual([]);
    } finally {
      db.close();
    }
  }, 90_000);
});
