// A throwaway PostgreSQL server for tests and the benchmark: `initdb` into a temporary
// directory, `postgres` on a free loopback port with its unix socket in that directory,
// trust authentication, no fsync (a test's data need not survive a power cut). Run as root
// (CI, containers), initdb refuses: the server then runs as the `postgres` user Debian's
// package creates, or `nobody`, through spawn's own uid/gid (no su, so the pid we hold is
// the postmaster's and a signal reaches it).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (superuser, trust auth). */
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's pid while it runs (its backends are its children). */
  readonly pid: number | null;
  /** A new empty database on this server; its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Fast shutdown (SIGINT), waiting for the postmaster to exit. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

/** Where `initdb` and `postgres` are: $MCP_PROBE_PG_BIN, Debian's versioned dirs (newest first), PATH. */
export function findPostgresBin(): string | null {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));
  const fromEnv = process.env['MCP_PROBE_PG_BIN'];
  if (fromEnv) return has(fromEnv) ? fromEnv : null;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(debian, v, 'bin'))) return join(debian, v, 'bin');
  }
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) if (dir && has(dir)) return dir;
  return null;
}

export const POSTGRES_MISSING = [
  'PostgreSQL server binaries (initdb, postgres) were not found, so the PostgreSQL store tests cannot run.',
  'Install them: `sudo apt-get install postgresql` (Debian/Ubuntu; `npm test` does it itself when run as root),',
  '`brew install postgresql` (macOS),',
  'or set MCP_PROBE_PG_BIN to the directory holding initdb and postgres.',
].join('\n');

/** The account to run the server as: ourselves, or (as root) `postgres`, else `nobody`. */
function serverAccount(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
    } catch {
      // No such user: try the next one.
    }
  }
  throw new Error(
    'running as root, and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as',
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function startPostgres({
  bin = findPostgresBin(),
}: {
  bin?: string | null;
} = {}): Promise<PostgresServer> {
  if (!bin) throw new Error(POSTGRES_MISSING);
  const account = serverAccount();
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-pg-'));
  const dataDir = join(dir, 'data');
  if (account) chownSync(dir, account.uid, account.gid);
  const as = account ?? {};
  execFileSync(
    join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { stdio: ['ignore', 'ignore', 'pipe'], ...as },
  );
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const proc = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=300',
        '-c',
        'shared_buffers=32MB',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], ...as },
    );
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`postgres exited at start (${proc.exitCode}): ${stderr}`);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => {});
        if (Date.now() > deadline)
          throw new Error(`postgres did not accept connections: ${(err as Error).message}; ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGINT');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };

  try {
    await start();
  } catch (err) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let databases = 0;
  return {
    url,
    port,
    dataDir,
    get pid() {
      return (child as ChildProcess | null)?.pid ?? null;
    },
    start,
    stop,
    async createDatabase(prefix = 'test') {
      return createDatabase(url, `${prefix}_${process.pid}_${++databases}`);
    },
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates database `name` on the server at `serverUrl` (a superuser URL); returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const safe = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${safe}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${safe}`;
  return url.toString();
}

/**
 * For test files: a fresh database on the run's server (test/setup/postgres.ts), or null when
 * this run has none (binaries missing outside CI: pair with `describe.skipIf(!postgresAvailable())`).
 */
export async function testDatabase(serverUrl: string | null, prefix = 'test'): Promise<string> {
  if (!serverUrl) throw new Error(POSTGRES_MISSING);
  return createDatabase(
    serverUrl,
    `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`,
  );
}
