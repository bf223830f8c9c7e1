// Pure logic of the idle-lifetime window and of bisect's next gaps (docs/design.md
// "Lifetime estimate"). No I/O, no clock: the prober feeds it measured idle gaps.
import { CLOCK_NOISE_MS, windowOf } from '../analysis/lifetime.js';

/** One idle gap that was measured: the session either survived it or expired after it. */
export interface IdlePoint {
  gapSeconds: number;
  survived: boolean;
  /** The gap the session was sent to idle (fanout, bisect); null when it has none (ladder). */
  targetSeconds?: number | null;
}

/**
 * Sessions sent to the same idle gap that fared differently: a sweeper's phase, seen directly.
 * (Their measured gaps differ by the timers' overshoot, which may put a survivor just below a
 * session that died, so the measured overlap alone would miss it.) A clean timer splits a
 * target only when the timeout lies within that overshoot of it: rare, and then the window only
 * widens, to the safe side.
 */
export function targetSplit(points: readonly IdlePoint[]): boolean {
  const fates = new Map<number, number>();
  for (const p of points) {
    if (p.targetSeconds == null) continue;
    fates.set(p.targetSeconds, (fates.get(p.targetSeconds) ?? 0) | (p.survived ? 1 : 2));
  }
  return [...fates.values()].some((f) => f === 3);
}

export interface IdleWindow {
  /** Largest survived gap smaller than every expired gap; null when none. */
  lowerSeconds: number | null;
  /** Smallest expired gap larger than every survived gap; null when nothing expired. */
  upperSeconds: number | null;
  /** A survival beyond an expiry by more than clock noise (a sweeping server): the window spans the overlap. */
  overlapping: boolean;
  survivals: number;
  expirations: number;
}

export function idleWindow(points: readonly IdlePoint[]): IdleWindow {
  // The same rule as the lifetime estimate; windowOf is unit-agnostic (seconds in, seconds out).
  // The two clocks disagree by a few ms: a survival beyond an expiry by less is not a sweeper.
  const w = windowOf(
    points.map((p) => [p.gapSeconds, !p.survived] as const),
    CLOCK_NOISE_MS / 1000,
    targetSplit(points),
  );
  return {
    lowerSeconds: w.lowerMs,
    upperSeconds: w.upperMs,
    overlapping: w.sweeping,
    survivals: w.survivals,
    expirations: w.expirations,
  };
}

/** Bisect stops once the window is narrower than max(minWidth, 10% of its lower edge). */
export function windowIsNarrow(w: IdleWindow, minWidthSeconds = 1): boolean {
  if (w.upperSeconds === null) return false;
  const lower = w.lowerSeconds ?? 0;
  return w.upperSeconds - lower <= Math.max(minWidthSeconds, 0.1 * lower);
}

/**
 * The next round's idle gaps: `count` sessions at the window's midpoint. One gap per round,
 * sampled `count` times at staggered phases: a clean timer answers them alike (bisect halves
 * the window), while a periodic sweeper kills some and spares others at the same gap, which
 * shows it (survivals at or above an expiry). Several gaps sampled once each would look like
 * a clean threshold just as often, and a lucky survival above the timeout would stand.
 * Empty when there is nothing to refine (no expiry seen, or no budget).
 */
export function nextBisectGaps(w: IdleWindow, count: number): number[] {
  if (w.upperSeconds === null || count <= 0) return [];
  const mid = Math.round((((w.lowerSeconds ?? 0) + w.upperSeconds) / 2) * 1000) / 1000;
  return Array.from({ length: count }, () => mid);
}

/**
 * How far apart a bisect round opens its sessions: spread evenly over half the window's upper
 * edge, so that `count` sessions meet a periodic sweeper at `count` different phases. (In a
 * simulation of mcp-proxy's sweeper, half the edge detected it as often as the whole edge and
 * costs a clean timer less waiting; docs/decisions/0041.) 0 for a single session.
 */
export function bisectStaggerMs(upperSeconds: number, count: number): number {
  return count <= 1 ? 0 : Math.round((upperSeconds * 1000) / 2 / count);
}
