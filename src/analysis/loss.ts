// Session loss that is not idle expiry (outcome `session_lost` in docs/contract.md). The wire shows a
// session error either way; only the exchanges around it tell an upstream that forgot an idle
// session from one that restarted, a legacy stream cut by the network, or a client reusing a
// session it DELETEd itself. That judgement needs several exchanges, so it is made here, over
// the stored rows, and never at recording time: the store keeps what the wire said. Pure.
import type { ExchangeRecord } from '../sessions/types.js';

export const LOSS_CAUSES = ['upstream_restart', 'stream_broken', 'client_deleted'] as const;
export type LossCause = (typeof LOSS_CAUSES)[number];

/** The fields the classification reads; missing ones only make a cause harder to prove. */
export type LossExchange = Pick<ExchangeRecord, 'sessionHash' | 'outcome' | 'startedAt'> &
  Partial<
    Pick<
      ExchangeRecord,
      'upstream' | 'endedAt' | 'idleGapMs' | 'httpMethod' | 'httpStatus' | 'transport' | 'errorMessage'
    >
  >;

/** How the proxy records a legacy SSE stream cut by a socket error (a clean end reads "closed by"). */
const STREAM_BROKE = /^legacy SSE stream broke/;

/**
 * The session errors among `exchanges` that are losses, with their cause:
 * - `stream_broken`: a legacy HTTP+SSE session whose stream a socket error cut;
 * - `client_deleted`: a session error on a session the client had DELETEd (2xx) before;
 * - `upstream_restart`: a refused or reset connection to the same upstream between the
 *   session's last answered exchange and the error: the upstream was down, and it forgot
 *   every session it had, whatever their idle time.
 * Every other session error stays `session_expired` (not in the map).
 */
export function classifyLosses<T extends LossExchange>(exchanges: readonly T[]): Map<T, LossCause> {
  const ordered = [...exchanges].sort((a, b) => a.startedAt - b.startedAt);
  const losses = new Map<T, LossCause>();
  const deletedAt = new Map<string, number>();
  const lastAnswered = new Map<string, number>();
  /** Per upstream: start times of refused or reset connections, ascending. */
  const downAt = new Map<string, number[]>();
  for (const e of ordered) {
    const upstream = e.upstream ?? '';
    if (e.outcome === 'connection_error') {
      const list = downAt.get(upstream);
      if (list) list.push(e.startedAt);
      else downAt.set(upstream, [e.startedAt]);
    }
    if (e.outcome === 'session_expired' && e.sessionHash !== null) {
      const cause = causeOf(e, deletedAt, lastAnswered, downAt.get(upstream) ?? []);
      if (cause) losses.set(e, cause);
    }
    if (e.sessionHash === null) continue;
    const status = e.httpStatus ?? null;
    if (e.httpMethod === 'DELETE' && status !== null && status >= 200 && status < 300) {
      deletedAt.set(e.sessionHash, e.endedAt ?? e.startedAt);
    }
    // Only an answer from the upstream shows it was up (and knew the session) at that moment.
    if (status !== null && status >= 200 && status < 300 && e.outcome !== 'session_expired') {
      lastAnswered.set(
        e.sessionHash,
        Math.max(lastAnswered.get(e.sessionHash) ?? 0, e.endedAt ?? e.startedAt),
      );
    }
  }
  return losses;
}

function causeOf(
  e: LossExchange,
  deletedAt: ReadonlyMap<string, number>,
  lastAnswered: ReadonlyMap<string, number>,
  down: readonly number[],
): LossCause | null {
  if (e.transport === 'sse' && e.httpMethod === 'GET' && STREAM_BROKE.test(e.errorMessage ?? '')) {
    return 'stream_broken';
  }
  const deleted = deletedAt.get(e.sessionHash!);
  if (deleted !== undefined && deleted <= e.startedAt) return 'client_deleted';
  const since =
    lastAnswered.get(e.sessionHash!) ?? (e.idleGapMs != null ? e.startedAt - e.idleGapMs : Number.NaN);
  if (Number.isNaN(since)) return null;
  // Any refused or reset connection in [since, start): the upstream went away meanwhile.
  let lo = 0;
  let hi = down.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (down[mid]! < since) lo = mid + 1;
    else hi = mid;
  }
  return lo < down.length && down[lo]! < e.startedAt ? 'upstream_restart' : null;
}

/** Counts per cause, every cause present (zeros included). */
export function countLosses(losses: ReadonlyMap<unknown, LossCause>): Record<LossCause, number> {
  const out = Object.fromEntries(LOSS_CAUSES.map((c) => [c, 0])) as Record<LossCause, number>;
  for (const cause of losses.values()) out[cause]++;
  return out;
}

/** Identifies one exchange row across two queries (the same row read twice). */
export function lossKey(e: LossExchange): string {
  return `${e.upstream ?? ''}|${e.sessionHash ?? ''}|${e.startedAt}|${e.httpMethod ?? ''}`;
}

/** How far back the exchanges around a session error are read: a DELETE or an outage before it. */
export const LOSS_CONTEXT_MS = 24 * 3600_000;
