import type { UpstreamConfig } from '../config/schema.js';
import { redactUrl } from '../security/redact.js';
import type { PostgresStoreOptions } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { ObservationStore } from './types.js';

export { redactDatabaseUrl, StoreUnreachableError } from './databaseUrl.js';
export type { PostgresObservationStore, PostgresStoreOptions } from './postgres.js';
export {
  createRecorder,
  type Logger,
  type Recorder,
  type RecorderOptions,
  type RecorderStats,
} from './recorder.js';
export { openSqliteStore, type SqliteObservationStore, type SqliteStoreOptions } from './sqlite.js';
export type * from './types.js';

export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/**
 * Parses `storage.url`: `sqlite:./path.db`, `sqlite:///abs/path.db`, `sqlite::memory:`,
 * a bare path, or `postgres://...` / `postgresql://...`.
 */
export function parseStoreUrl(url: string): StoreLocation {
  const trimmed = url.trim();
  if (trimmed === '') throw new Error('storage.url: is empty; use sqlite:PATH');
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return { kind: 'postgres', url: trimmed };
  if (/^sqlite:/i.test(trimmed)) {
    let path = trimmed.slice('sqlite:'.length);
    // sqlite:///abs/path → /abs/path; sqlite://rel/path → rel/path
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new Error(`storage.url: "${url}" has no path; use sqlite:PATH or sqlite::memory:`);
    return { kind: 'sqlite', path };
  }
  // Anything else with a scheme (two letters or more, so not a Windows drive) is a mistake, not a file name.
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(trimmed);
  if (scheme) {
    throw new Error(`storage.url: scheme "${scheme[1]}:" in "${url}" is not supported; use sqlite:PATH`);
  }
  return { kind: 'sqlite', path: trimmed };
}

/** Opens the store named by `storage.url` and applies pending migrations. */
export async function openStore(
  url: string,
  postgres: Omit<PostgresStoreOptions, 'url'> = {},
): Promise<ObservationStore> {
  const location = parseStoreUrl(url);
  if (location.kind === 'postgres') {
    // Loaded only for PostgreSQL: a SQLite deployment never loads the driver.
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore({ url: location.url, ...postgres });
  }
  return openSqliteStore({ path: location.path });
}

/**
 * Opens the configured store, applies migrations and registers the configured
 * upstreams (URLs without credentials or query strings): what serve and probe share.
 */
export async function openStoreForUpstreams(
  url: string,
  upstreams: readonly Pick<UpstreamConfig, 'id' | 'name' | 'url' | 'transport'>[],
  postgres: Omit<PostgresStoreOptions, 'url'> = {},
): Promise<ObservationStore> {
  const store = await openStore(url, postgres);
  try {
    await store.migrate();
    await store.upsertUpstreams(
      upstreams.map((u) => ({
        id: u.id,
        name: u.name,
        url: redactUrl(u.url),
        transport: u.transport,
        stateless: null,
        validatesSessionIds: null,
      })),
    );
  } catch (err) {
    // A connection left open here would keep SQLite's per-file state (a WAL index it could
    // only open read-only, say) for every later connection of this process.
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}
