// One row per expired session for /api/expirations. A client that keeps using a session after
// it expired gets more session errors (a retry, its DELETE), each recorded as an exchange; they
// are the same expiry seen again, with no idle gap of their own. The first one is the expiry.

/** The fields this needs from a stored exchange. */
export interface ExpiryRow {
  upstream: string;
  source: string;
  sessionHash: string | null;
  startedAt: number;
  id?: number;
}

/**
 * Keeps the earliest expiry of each session, in the input's order (newest first from the store).
 * Rows without a session hash cannot be told apart and are all kept.
 */
export function firstExpiryPerSession<T extends ExpiryRow>(rows: readonly T[]): T[] {
  const earliest = new Map<string, T>();
  for (const row of rows) {
    if (row.sessionHash === null) continue;
    const key = `${row.upstream}\u0000${row.source}\u0000${row.sessionHash}`;
    const seen = earliest.get(key);
    if (
      !seen ||
      row.startedAt < seen.startedAt ||
      (row.startedAt === seen.startedAt && (row.id ?? 0) < (seen.id ?? 0))
    )
      earliest.set(key, row);
  }
  const keep = new Set(earliest.values());
  return rows.filter((row) => row.sessionHash === null || keep.has(row));
}
