// Lifetime estimate (docs/design.md "Lifetime estimate"): pure functions over observation
// records. Every request on a known session after idle gap g is a survival or an
// expiry at g; the estimate is the window (lowerBound, upperBound] between them.
import type { ExchangeRecord, SessionRecord } from '../sessions/types.js';
import { classifyLosses, countLosses, type LossCause, type LossExchange } from './loss.js';

/** The fields of an exchange the estimate reads (store rows and tracker records both fit). */
export type LifetimeExchange = Pick<
  ExchangeRecord,
  'source' | 'sessionHash' | 'outcome' | 'idleGapMs' | 'sessionAgeMs' | 'streamAttached'
> &
  Partial<Omit<LossExchange, 'sessionHash' | 'outcome'>> & {
    /**
     * The prober's control request (a made-up session id): never a survival or an
     * expiry of a real session. The tracker already leaves such requests with
     * `idleGapMs: null` (an adopted, unknown session), which excludes them too.
     */
    control?: boolean;
  };

export type LifetimeSession = Pick<
  SessionRecord,
  'source' | 'adopted' | 'initLatencyMs' | 'openedAt' | 'initializedAt'
>;

export type LifetimeBasis = 'idle' | 'age' | 'inconsistent' | 'none_observed';

/** (lower, upper] in milliseconds over one variable (idle gap or session age). */
export interface LifetimeWindow {
  /**
   * Largest survival below every expiry; null when no survival is below the smallest expiry.
   * With overlap (a sweeper) it is also at least the overlap's width below the smallest expiry.
   */
  lowerMs: number | null;
  /** Smallest expiry above every survival; null when none (no expiry, or survivals beyond all expiries). */
  upperMs: number | null;
  survivals: number;
  expirations: number;
  /** Observations contradicting a clean threshold: survivals at or above the smallest expiry plus expiries at or below the largest survival. */
  overlap: number;
  /**
   * Survivals beyond an expiry by at least clock noise (`noiseFloor`): a periodic sweeper,
   * whose edges come from its phase.
   */
  sweeping: boolean;
  /** The largest value that survived (null: none). Beyond it nothing is known unless something expired. */
  maxSurvivalMs: number | null;
  /** The smallest value that expired (null: none). */
  minExpiryMs: number | null;
}

export interface LatencySummary {
  p50Ms: number | null;
  p90Ms: number | null;
  n: number;
}

export interface LifetimeEstimate {
  stateless: boolean;
  /** False when the probe's made-up session id was accepted: survivals then prove nothing. */
  validatesSessionIds: boolean | null;
  basis: LifetimeBasis;
  /** The window over the basis variable (idle gap unless basis is `age`), sessions without a GET stream. */
  lowerMs: number | null;
  upperMs: number | null;
  survivals: number;
  expirations: number;
  /** Both explanations, sessions without a GET stream. */
  idle: LifetimeWindow;
  age: LifetimeWindow;
  /** Idle-gap window of requests made while a GET stream was attached: many servers spare those. */
  withStream: LifetimeWindow;
  /** Observations (survivals + expirations) by who made them. */
  observations: { proxy: number; probe: number };
  /** Session errors that were not idle expiry (`session_lost`), by cause: never in any window. */
  losses: Record<LossCause, number>;
  /** `initialize` round trip. */
  initLatency: LatencySummary;
  /** `initialize` start to `notifications/initialized` done: the full cost of a new session. */
  sessionOpen: LatencySummary;
}

export interface EstimateLifetimeOptions {
  /** The upstream issues no session ids (store flag). */
  stateless?: boolean | null;
  /** From the probe's control request (store flag); null when never probed. */
  validatesSessionIds?: boolean | null;
  /** The newest probe saw a sweeper (sessions sent to one idle gap fared differently). */
  sweepingSeen?: boolean;
}

/** Only a 2xx answer proves the session was still there; other failures tell nothing about it. */
function isSurvival(e: LifetimeExchange): boolean {
  return e.outcome === 'ok' || e.outcome === 'rpc_error';
}

/**
 * How far the upstream's idle clock and ours may disagree on loopback (reading the answer,
 * scheduling): a survival this little beyond an expiry is not yet a sweeper.
 */
export const CLOCK_NOISE_MS = 10;

/** Points for one variable: [value, expired]. */
type Point = readonly [number, boolean];

/**
 * The window over one variable, per docs/design.md. Pure; exported for tests and the dashboard.
 *
 * A periodic sweeper (timeout T, period P) removes a session anywhere between T and T + P of
 * idleness, depending on where the sweep falls: a survival at g proves only T + P > g, and a
 * lucky survival just below the first expiry says nothing about T. When survivals and expiries
 * overlap (a survival at or above an expiry: the sweeper seen), the lower edge is half the
 * largest survival: with a sweep at least as frequent as the timeout (P <= T, as in mcp-proxy,
 * and the same assumption as the pool's safety margin) T > largest survival / 2. Should that
 * not lie below the smallest expiry (P > T), the edge is the largest survival at least the
 * overlap's width below the smallest expiry, or none. Either way the window is never narrower
 * than the evidence: it spans the overlap. Overlap narrower than `noiseFloor` is the two
 * clocks disagreeing, not a sweeper.
 */
export function windowOf(
  points: readonly Point[],
  noiseFloor = 0,
  /** A sweeper already seen another way (the probe: sessions sent to the same gap fared differently). */
  sweepingSeen = false,
): LifetimeWindow {
  let maxSurvival = Number.NEGATIVE_INFINITY;
  let minExpiry = Number.POSITIVE_INFINITY;
  let survivals = 0;
  let expirations = 0;
  for (const [value, expired] of points) {
    if (expired) {
      expirations++;
      minExpiry = Math.min(minExpiry, value);
    } else {
      survivals++;
      maxSurvival = Math.max(maxSurvival, value);
    }
  }
  // A sweeper shows as survivals beyond an expiry by more than the two clocks' disagreement
  // (the server's idle timer starts when it finishes answering, ours when we finish reading).
  const sweeping =
    survivals > 0 && expirations > 0 && (sweepingSeen || maxSurvival - minExpiry >= noiseFloor);
  const luck = sweeping ? Math.max(0, maxSurvival - minExpiry) : 0;
  let lower: number | null = null;
  let upper: number | null = null;
  let overlap = 0;
  for (const [value, expired] of points) {
    if (expired) {
      if (value > maxSurvival && (upper === null || value < upper)) upper = value;
      if (value <= maxSurvival) overlap++;
    } else {
      if (value < minExpiry && value <= minExpiry - luck && (lower === null || value > lower)) lower = value;
      if (value >= minExpiry) overlap++;
    }
  }
  if (sweeping && maxSurvival / 2 < minExpiry) lower = maxSurvival / 2;
  return {
    lowerMs: lower,
    upperMs: upper,
    survivals,
    expirations,
    overlap,
    sweeping,
    maxSurvivalMs: survivals > 0 ? maxSurvival : null,
    minExpiryMs: expirations > 0 ? minExpiry : null,
  };
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

export function summarizeLatency(values: readonly number[]): LatencySummary {
  const sorted = values.filter((v) => Number.isFinite(v) && v >= 0).sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), n: sorted.length };
}

/**
 * Decide which explanation fits: a window with an expiry beyond every survival
 * fits; of two that fit, the one with fewer contradicting observations wins, and
 * idle wins ties (probes that reuse each session once make age and gap move together).
 */
function chooseBasis(idle: LifetimeWindow, age: LifetimeWindow): LifetimeBasis {
  if (idle.expirations === 0 && age.expirations === 0) return 'none_observed';
  const idleFits = idle.upperMs !== null;
  const ageFits = age.upperMs !== null;
  if (idleFits && (!ageFits || idle.overlap <= age.overlap)) return 'idle';
  if (ageFits) return 'age';
  return 'inconsistent';
}

/**
 * The lifetime estimate of one upstream from its exchanges and sessions (passive
 * and probe alike). Pure: the caller loads the rows.
 */
export function estimateLifetime(
  exchanges: readonly LifetimeExchange[],
  sessions: readonly LifetimeSession[],
  opts: EstimateLifetimeOptions = {},
): LifetimeEstimate {
  const stateless = opts.stateless === true;
  const validates = opts.validatesSessionIds ?? null;
  const idlePoints: Point[] = [];
  const agePoints: Point[] = [];
  const streamPoints: Point[] = [];
  const observations = { proxy: 0, probe: 0 };
  const lost = classifyLosses(
    exchanges.filter((e): e is LifetimeExchange & { startedAt: number } => e.startedAt !== undefined),
  );
  if (!stateless) {
    for (const e of exchanges) {
      if (e.control || e.sessionHash === null || e.idleGapMs === null || lost.has(e as never)) continue;
      const expired = e.outcome === 'session_expired';
      if (!expired && !isSurvival(e)) continue;
      // An upstream that accepts made-up ids answers 2xx whether or not it still knows the session.
      if (!expired && validates === false) continue;
      observations[e.source]++;
      if (e.streamAttached) {
        streamPoints.push([e.idleGapMs, expired]);
        continue;
      }
      idlePoints.push([e.idleGapMs, expired]);
      if (e.sessionAgeMs !== null) agePoints.push([e.sessionAgeMs, expired]);
    }
  }
  const idle = windowOf(idlePoints, CLOCK_NOISE_MS, opts.sweepingSeen === true);
  const age = windowOf(agePoints, CLOCK_NOISE_MS);
  const withStream = windowOf(streamPoints, CLOCK_NOISE_MS);
  const basis = stateless ? 'none_observed' : chooseBasis(idle, age);
  const chosen = basis === 'age' ? age : idle;

  const fresh = sessions.filter((s) => !s.adopted);
  const initLatency = summarizeLatency(
    fresh.flatMap((s) => (s.initLatencyMs === null ? [] : [s.initLatencyMs])),
  );
  const sessionOpen = summarizeLatency(
    fresh.flatMap((s) => (s.initializedAt === null ? [] : [s.initializedAt - s.openedAt])),
  );
  return {
    stateless,
    validatesSessionIds: validates,
    basis,
    lowerMs: chosen.lowerMs,
    upperMs: chosen.upperMs,
    survivals: idle.survivals,
    expirations: idle.expirations,
    idle,
    age,
    withStream,
    observations,
    losses: countLosses(lost),
    initLatency,
    sessionOpen,
  };
}
