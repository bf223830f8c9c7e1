// What a person reads when the database cannot be reached: the URL with its password hidden.
// Kept apart from the PostgreSQL store so that the CLI can recognise the error without loading
// the driver (a SQLite deployment never loads `pg`).

/** The `code` of a `StoreUnreachableError`. */
export const STORE_UNREACHABLE = 'STORE_UNREACHABLE';

/** The store's server could not be reached at start: the CLI exits 2 with this message. */
export class StoreUnreachableError extends Error {
  override readonly name = 'StoreUnreachableError';
  /** Survives the store process's IPC, which carries only a message and a code. */
  readonly code = STORE_UNREACHABLE;
}

/** `postgres://user:***@host:port/db`: the password replaced, the query string (sslpassword...) dropped. */
export function redactDatabaseUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    url.search = '';
    url.hash = '';
    return url.toString();
  } catch {
    return raw.replace(/\/\/[^@/]*@/, '//***@').replace(/[?#].*$/s, '');
  }
}
