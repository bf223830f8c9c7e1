// Pure logic of the idle-lifetime window and of bisect's next gaps (DESIGN.md
// "Lifetime estimate"). No I/O, no clock: the prober feeds it measured idle gaps.
import { windowOf } from '../analysis/lifetime.js';

/** One idle gap that was measured: the session either survived it or expired after it. */
export interface IdlePoint {
  gapSeconds: number;
  survived: boolean;
}

export interface IdleWindow {
  /** Largest survived gap smaller than every expired gap; null when none. */
  lowerSeconds: number | null;
  /** Smallest expired gap larger than every survived gap; null when nothing expired. */
  upperSeconds: number | null;
  /** Survivals and expiries overlap (a sweeping server): the window spans the overlap. */
  overlapping: boolean;
  survivals: number;
  expirations: number;
}

export function idleWindow(points: readonly IdlePoint[]): IdleWindow {
  // The same rule as the lifetime estimate; windowOf is unit-agnostic (seconds in, seconds out).
  const w = windowOf(points.map((p) => [p.gapSeconds, !p.survived] as const));
  return {
    lowerSeconds: w.lowerMs,
    upperSeconds: w.upperMs,
    overlapping: w.overlap > 0,
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
 * The next round's idle gaps: `count` gaps spaced evenly strictly inside the window.
 * Empty when there is nothing to refine (no expiry seen, or no budget).
 */
export function nextBisectGaps(w: IdleWindow, count: number): number[] {
  if (w.upperSeconds === null || count <= 0) return [];
  const lower = w.lowerSeconds ?? 0;
  const step = (w.upperSeconds - lower) / (count + 1);
  const gaps: number[] = [];
  for (let i = 1; i <= count; i++) gaps.push(Math.round((lower + step * i) * 1000) / 1000);
  return gaps;
}
