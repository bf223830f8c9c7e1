// What a probe does when its caller does not say: the CLI (`probe`), the admin API
// (`POST /api/probes`), the dashboard's form and scheduled probes all read these, so the
// three ways to start a probe behave the same. Also how long a probe plan will take, so a
// person sees the cost before starting one.
import type { ProbeMode } from '../config/schema.js';

/** No mode and no intervals: a `search` for the unknown idle timeout. */
export const DEFAULT_PROBE_MODE: ProbeMode = 'search';
/** Intervals without a mode: the gaps are tested as a fanout, as before search existed. */
export const DEFAULT_MODE_WITH_INTERVALS: ProbeMode = 'fanout';
/** The original script's checkpoints: 5 s to 30 min (modes other than search). */
export const DEFAULT_INTERVALS_SECONDS: readonly number[] = [5, 30, 60, 300, 900, 1800];
/** `--quick`. */
export const QUICK_INTERVALS_SECONDS: readonly number[] = [5, 30, 60];
/** `search`: the largest idle gap it tests. */
export const DEFAULT_MAX_IDLE_SECONDS = 3600;
/** `search`: the sessions it may open on each upstream. */
export const DEFAULT_SEARCH_BUDGET = 32;
/** `bisect`: the sessions it may open after its first fanout. */
export const DEFAULT_BISECT_BUDGET = 16;
/** Sessions one bisect round opens at once. */
export const DEFAULT_BISECT_PARALLEL = 3;
/** Bisect stops once the window is narrower than max(this, 10% of its lower edge). */
export const DEFAULT_MIN_WINDOW_SECONDS = 1;

/** The mode a run takes: the one asked for, else search without intervals and fanout with them. */
export function chooseProbeMode(
  mode: ProbeMode | undefined,
  intervals: readonly number[] | undefined,
): ProbeMode {
  return mode ?? (intervals === undefined ? DEFAULT_PROBE_MODE : DEFAULT_MODE_WITH_INTERVALS);
}

/** A probe as its caller asked for it; absent fields take the defaults above. */
export interface ProbePlan {
  mode?: ProbeMode | undefined;
  intervalsSeconds?: readonly number[] | undefined;
  budget?: number | undefined;
  minWindowSeconds?: number | undefined;
  keepaliveSeconds?: number | null | undefined;
  maxIdleSeconds?: number | undefined;
}

/** How long a run may take, idle waits only (handshakes add about a second per round). */
export interface DurationEstimate {
  mode: ProbeMode;
  intervalsSeconds: number[];
  /** When the upstream behaves in the cheapest way (e.g. nothing expires, so bisect stops). */
  minSeconds: number;
  /** The longest the plan can take. */
  maxSeconds: number;
}

/** A plan with every default filled in: what a run started with it will actually do. */
export interface ResolvedProbePlan {
  mode: ProbeMode;
  intervalsSeconds: number[];
  budget: number;
  minWindowSeconds: number;
  keepaliveSeconds: number | null;
  maxIdleSeconds: number;
}

export function resolveProbePlan(plan: ProbePlan): ResolvedProbePlan {
  const given = plan.intervalsSeconds?.length ? plan.intervalsSeconds : undefined;
  const mode = chooseProbeMode(plan.mode, given);
  return {
    mode,
    // search chooses its own gaps.
    intervalsSeconds: mode === 'search' ? [] : [...(given ?? DEFAULT_INTERVALS_SECONDS)],
    budget: plan.budget ?? (mode === 'search' ? DEFAULT_SEARCH_BUDGET : DEFAULT_BISECT_BUDGET),
    minWindowSeconds: plan.minWindowSeconds ?? DEFAULT_MIN_WINDOW_SECONDS,
    keepaliveSeconds: plan.keepaliveSeconds ?? null,
    maxIdleSeconds: plan.maxIdleSeconds ?? DEFAULT_MAX_IDLE_SECONDS,
  };
}

/** search's fixed cost beyond twice the timeout it finds. */
const SEARCH_OVERHEAD_SECONDS = 10;

/**
 * Per mode: search takes at most twice the timeout it finds plus 10 s, so up to twice
 * `maxIdleSeconds` when nothing expires; fanout waits out every gap at once (the longest gap); ladder holds one session to
 * its last checkpoint (the longest offset); bisect adds rounds, each waiting less than the
 * window's upper edge, until the window is narrow or the budget is spent. A keepalive test
 * then idles one more session for 1.5 times the window's edge.
 */
export function estimateProbeDuration(plan: ProbePlan): DurationEstimate {
  const p = resolveProbePlan(plan);
  // search pins an unknown timeout T in at most 2T + 10 s; T is anywhere up to --max-idle.
  const longest = p.mode === 'search' ? p.maxIdleSeconds : Math.max(...p.intervalsSeconds);
  let minSeconds = p.mode === 'search' ? SEARCH_OVERHEAD_SECONDS : longest;
  let maxSeconds = p.mode === 'search' ? 2 * longest + SEARCH_OVERHEAD_SECONDS : longest;
  if (p.mode === 'bisect') {
    const rounds = Math.min(
      Math.ceil(p.budget / DEFAULT_BISECT_PARALLEL),
      bisectRoundsToNarrow(longest, p.minWindowSeconds),
    );
    maxSeconds += rounds * longest;
  }
  if (p.keepaliveSeconds !== null) {
    const keepalive = Math.max(longest * 1.5, longest + p.keepaliveSeconds);
    minSeconds += keepalive;
    maxSeconds += keepalive;
  }
  return { mode: p.mode, intervalsSeconds: p.intervalsSeconds, minSeconds, maxSeconds };
}

/** Each round splits the window into parallel + 1 parts: rounds until it is minWidth wide. */
function bisectRoundsToNarrow(widthSeconds: number, minWidthSeconds: number): number {
  const shrink = DEFAULT_BISECT_PARALLEL + 1;
  return Math.max(0, Math.ceil(Math.log(widthSeconds / Math.max(minWidthSeconds, 0.001)) / Math.log(shrink)));
}

/** "about 30 min", "1–4 min": for a person deciding whether to start. */
export function describeDuration(e: Pick<DurationEstimate, 'minSeconds' | 'maxSeconds'>): string {
  const min = humanDuration(e.minSeconds);
  const max = humanDuration(e.maxSeconds);
  return min === max ? `about ${max}` : `${min} to ${max}`;
}

function humanDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}
