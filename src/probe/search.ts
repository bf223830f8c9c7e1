// The `search` probe mode as a pure state machine: it decides which session to open or
// check and when, from the idle gaps measured so far. No I/O and no timers: the caller
// (searchShell.ts, or a simulated clock in the tests) tells it the time and what happened.
//
// How it pins an unknown idle timeout T (docs/probe.md "search"):
// - A pool of sessions is opened at the start (part of it a few seconds later). The oldest idle session is checked (one
//   tools/list) the moment its idle gap reaches the target gap; a session that survives is
//   reset by that check and goes to the back of the queue. Every check thus leaves a session
//   whose idle gap starts at a new moment: the sessions are staggered by the search itself.
// - The target climbs from the largest survived gap L by max(0.9 s, 4.5% of L), so the first
//   expiry brackets T in a window narrower than max(1 s, 5% of T). With a pool of N sessions
//   the oldest one always has an idle gap near the target, so the climb runs at about
//   1/(1 - 1.045^-N) of real time (N = 24: 1.5x).
// - Once the bracket (L, U] is narrow, the search meets it again at new phases: it halves the
//   bracket, then re-tests its edges in turn, just below L (a periodic sweeper, which ends
//   sessions at the next sweep after T idle, kills there at some phases) and just above U (a
//   sweeper spares sessions there at some phases). A clean timeout answers every re-test alike;
//   a sweeper shows as survivals above expiries, and from then on the lower edge reported is
//   the one that holds for any sweeper (`sweptLower`).
// - Without that overlap the reported lower edge is lowered as far as the width bound allows,
//   and the result says which sweepers it still holds for (`sweepCover`): every survival at gap
//   g proves that no sweep fell in the last g - l seconds of its idle time if T were below l.
import { windowOf } from '../analysis/lifetime.js';

/** A survived or expired check; other failures do not count towards the window. */
export type CheckOutcome = 'survived' | 'expired' | 'failed';

export type SearchPhase = 'climb' | 'verify' | 'sweeper' | 'done';

export type SearchStopReason =
  /** The window is narrow and re-tests below its lower edge all survived. */
  | 'pinned'
  /** Survivals and expiries overlap (a sweeper); the window is the honest, wider one. */
  | 'sweeper'
  /** Nothing expired up to max-idle: the timeout is longer (or there is none). */
  | 'max-idle'
  /** The session budget ran out before the window was narrow. */
  | 'budget'
  /** Sessions could not be opened or checked (errors other than expiry). */
  | 'failures';

export interface SearchOptions {
  /** Seconds on the caller's clock when the search starts. */
  startedAt: number;
  /** Sessions the search may open in all (replacements for expired ones included). */
  budget: number;
  /** Gaps beyond this are never tested. */
  maxIdleSeconds: number;
  /** The current window from passive traffic: its lower edge is where the climb starts. */
  hint?: { lowerSeconds: number | null; upperSeconds: number | null } | null;
}

export interface SearchWindow {
  lowerSeconds: number | null;
  upperSeconds: number | null;
  overlapping: boolean;
}

export type SearchAction =
  | { type: 'open'; session: number }
  | { type: 'check'; session: number; gapSeconds: number }
  /** Idle past the smallest expiry: dead for a clean timeout; close it (no DELETE needed). */
  | { type: 'drop'; session: number };

export interface SearchPlan {
  /** Start these now. */
  actions: SearchAction[];
  /** Ask again at this time (seconds), or when an action reports back; null: only then. */
  wakeAt: number | null;
}

/** One step of the window as it narrowed (the result's `search.steps`, progress events). */
export interface SearchStep {
  /** Seconds since the search started. */
  t: number;
  lowerSeconds: number | null;
  upperSeconds: number | null;
  phase: SearchPhase;
}

/** What the window says about sweepers (`search.sweep` in the result JSON). */
export interface SweepReading {
  /** Survivals above expiries showed that the upstream ends idle sessions at sweeps. */
  detected: boolean;
  /** The largest idle gap a session survived (a sweeper lets sessions live past T). */
  largestSurvivalSeconds: number | null;
  /**
   * The lower edge holds for an exact timer and for an upstream that sweeps at least this
   * often (seconds); null: for any sweep schedule. A sweeper sweeping less often may end
   * sessions below the lower edge without the probe seeing it, down to `anySweeperLowerSeconds`.
   */
  lowerHoldsForPeriodUpToSeconds: number | null;
  /** A lower edge that holds for any upstream that sweeps at least once per timeout. */
  anySweeperLowerSeconds: number | null;
}

export interface SearchSummary {
  phase: SearchPhase;
  stopReason: SearchStopReason | null;
  window: SearchWindow;
  widthSeconds: number | null;
  /** max(1 s, 5% of the lower edge): what "narrow" means (T is above a clean lower edge). */
  toleranceSeconds: number;
  sessionsOpened: number;
  checks: number;
  survivals: number;
  expirations: number;
  failures: number;
  /** Seconds from the start until the window was first narrow; null if never. */
  narrowAfterSeconds: number | null;
  startedFrom: { lowerSeconds: number | null; upperSeconds: number | null } | null;
  steps: SearchStep[];
  sweep: SweepReading;
}

/** Tuning, exported for the docs and the tests. */
export const SEARCH = {
  /** Smallest climb step (under the 1 s tolerance, so a late timer still leaves room). */
  minStepSeconds: 0.9,
  /** Relative climb step (under the 5% tolerance). */
  stepRatio: 0.045,
  /** Sessions opened at the start; the rest of the pool follows after `fullPoolAfterSeconds`. */
  firstPool: 14,
  fullPoolAfterSeconds: 6,
  /** Sessions kept back from the budget for replacements of expired or failed ones. */
  maxReserve: 8,
  /** Re-tests after the window is narrow last this long at least ... */
  verifyMinSeconds: 8,
  /** ... or this share of the lower edge. */
  verifyShare: 0.5,
  /** Before the edges are re-tested, the bracket is halved until it is this share of the tolerance. */
  refineShare: 0.25,
  /** Re-tests just above the upper edge (each one costs a clean timeout a session). */
  upperRetests: 3,
  /** Without a sweeper seen, the reported window is widened to this share of the tolerance. */
  reportShare: 0.95,
  /** Every phase stops early enough for its last check to end by 2 L + 10 s. */
  finishMarginSeconds: 1.5,
  /** Re-tests come at most this often (a small T has every session due within moments). */
  retestSpacingSeconds: 0.2,
  /** Checks failing with anything but expiry, before the search gives up. */
  maxFailures: 4,
} as const;

export const stepAbove = (lowerSeconds: number): number =>
  Math.max(SEARCH.minStepSeconds, SEARCH.stepRatio * lowerSeconds);

export const toleranceAt = (lowerSeconds: number): number => Math.max(1, 0.05 * lowerSeconds);

/**
 * How far below the lower edge (or above the upper one) the re-tests go: enough for their
 * answer to overlap the edge's beyond the two clocks' disagreement.
 */
const retestMargin = (lowerSeconds: number): number => Math.min(0.5, 0.05 + 0.01 * lowerSeconds);

/** The lowest lower edge that keeps a window with this upper edge within `reportShare` of the tolerance. */
export function lowestWithinTolerance(upperSeconds: number): number {
  const share = SEARCH.reportShare;
  // max(1 s, 5% of l): 1 s up to l = 20 s, then 5% of l.
  const flat = upperSeconds - share;
  return flat <= 20 ? flat : upperSeconds / (1 + 0.05 * share);
}

interface PoolSession {
  id: number;
  /** null while opening. */
  lastActiveAt: number | null;
  busy: boolean;
}

export interface Point {
  gapSeconds: number;
  survived: boolean;
  /** The session's last activity before the check, the check's start and end (caller's clock). */
  idleSince: number;
  startedAt: number;
  endedAt: number;
}

export class IdleTimeoutSearch {
  private readonly sessions = new Map<number, PoolSession>();
  private readonly points: Point[] = [];
  private readonly steps: SearchStep[] = [];
  private readonly poolSize: number;
  private nextId = 1;
  private opened = 0;
  private checks = 0;
  private failures = 0;
  private checking = false;
  private phase: SearchPhase = 'climb';
  private stopReason: SearchStopReason | null = null;
  private verifyUntil = Number.POSITIVE_INFINITY;
  private narrowAt: number | null = null;
  private readonly climbFrom: number;
  /** Something just expired: for a sweeper, a sweep happened moments ago, so check on at once. */
  private burst = false;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private lowerRetests = 0;
  private upperRetests = 0;
  private lastOpenAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: SearchOptions) {
    const reserve = Math.min(SEARCH.maxReserve, Math.floor(opts.budget / 4));
    this.poolSize = Math.max(1, opts.budget - reserve);
    const hinted = opts.hint?.lowerSeconds ?? null;
    this.climbFrom = hinted !== null && hinted > 0 && hinted < opts.maxIdleSeconds ? hinted : 0;
  }

  /** The window over every survived and expired check (the rule in docs/design.md, "The lifetime estimate"). */
  window(): SearchWindow {
    const w = windowOf(this.points.map((p) => [p.gapSeconds, !p.survived] as const));
    return { lowerSeconds: w.lowerMs, upperSeconds: w.upperMs, overlapping: w.overlap > 0 };
  }

  /**
   * The window to report. Once survivals and expiries overlap the upstream sweeps, and a
   * survival at gap g no longer shows T > g (the session may just not have met a sweep yet):
   * the lower edge is then the largest bound that holds for any sweeper, the upper edge the
   * smallest expiry. Without overlap the
   * lower edge is widened down to the width bound, so that it also holds for the sweepers the
   * re-tests would have caught there (`sweep.lowerHoldsForPeriodUpToSeconds`).
   */
  reportedWindow(): SearchWindow {
    const w = this.window();
    const any = anySweeperLower(this.points);
    // Under a sweeper a survival above an expiry does not lift the upper edge either: every
    // expiry, the smallest included, came after more than T idle.
    const expiries = this.points.filter((p) => !p.survived);
    const smallestExpiry = Math.min(...expiries.map((p) => p.gapSeconds));
    const upper = w.overlapping ? smallestExpiry : w.upperSeconds;
    if (upper === null) return w;
    // (Never past the width bound above the largest survival: the allowance is a margin for
    // the clocks, not evidence.)
    const room =
      w.lowerSeconds === null ? 0 : w.lowerSeconds + SEARCH.reportShare * toleranceAt(w.lowerSeconds) - upper;
    const clocks = Math.max(clockAllowance(expiries, upper), retestMargin(w.lowerSeconds ?? 0));
    const allowance = w.overlapping ? clocks : Math.min(clocks, Math.max(0, room));
    const upperSeconds = round(upper + allowance);
    if (w.overlapping) return { ...w, lowerSeconds: maxOf(sweptLower(this.points), any), upperSeconds };
    if (w.lowerSeconds === null) return { ...w, upperSeconds };
    const widened = Math.max(lowestWithinTolerance(upperSeconds), any ?? 0);
    return { ...w, lowerSeconds: round(Math.min(w.lowerSeconds, widened)), upperSeconds };
  }

  /** Which sweepers the reported lower edge holds for. */
  sweepReading(): SweepReading {
    const w = this.reportedWindow();
    const swept = w.overlapping ? sweptLower(this.points) : null;
    const survivals = this.points.filter((p) => p.survived).map((p) => p.gapSeconds);
    return {
      detected: w.overlapping,
      largestSurvivalSeconds: survivals.length === 0 ? null : Math.max(...survivals),
      lowerHoldsForPeriodUpToSeconds:
        swept !== null && swept >= (w.lowerSeconds ?? 0)
          ? null
          : round(sweepCover(this.points, w.lowerSeconds ?? 0)),
      anySweeperLowerSeconds: anySweeperLower(this.points),
    };
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  plan(now: number): SearchPlan {
    const actions: SearchAction[] = [];
    if (this.phase !== 'done') this.advance(now);
    if (this.phase === 'done') return { actions, wakeAt: null };
    // Keep the pool full while the budget lasts (re-tests of a clean timeout need no new ones).
    // (A small timeout's pool is mostly idle past the first expiry and dropped: new sessions
    // can still be re-tested before the re-tests end.)
    const refill = this.phase !== 'verify' || now + (this.window().lowerSeconds ?? 0) < this.verifyUntil;
    // Part of the pool waits a few seconds: a timeout of a few seconds would leave it idle past
    // the first expiry, spent for nothing, while its re-tests need fresh sessions.
    const early =
      this.phase === 'climb' &&
      this.window().upperSeconds === null &&
      now - this.opts.startedAt < SEARCH.fullPoolAfterSeconds;
    const pool = early ? Math.min(this.poolSize, SEARCH.firstPool) : this.poolSize;
    // Re-tests need sessions idle since different moments: in `verify` they open one by one.
    const stagger = Math.max(SEARCH.retestSpacingSeconds, (this.window().lowerSeconds ?? 0) / 8);
    while (refill && this.sessions.size < pool && this.opened < this.opts.budget) {
      if (this.phase === 'verify' && now < this.lastOpenAt + stagger) break;
      this.lastOpenAt = now;
      const id = this.nextId++;
      this.opened++;
      this.sessions.set(id, { id, lastActiveAt: null, busy: true });
      actions.push({ type: 'open', session: id });
    }
    const moreOpens = refill && this.sessions.size < pool && this.opened < this.opts.budget;
    const nextOpen = moreOpens ? this.lastOpenAt + stagger : Number.POSITIVE_INFINITY;
    const w = this.window();
    const lower = w.lowerSeconds ?? 0;
    const upper = w.upperSeconds;
    const gap = (s: PoolSession) => now - s.lastActiveAt!;
    const verifying = this.phase === 'verify' && upper !== null;
    // A bracket much narrower than the tolerance leaves room to widen the reported lower edge
    // (see reportedWindow), and edge re-tests that a sweeper can answer either way.
    const refining = verifying && upper !== null && upper - lower > SEARCH.refineShare * toleranceAt(lower);
    // The upper edge's re-test takes its turn after every second re-test of the lower edge:
    // one session is then let idle past U (instead of being dropped there) until just above.
    const upperTurn =
      verifying &&
      !refining &&
      this.upperRetests < SEARCH.upperRetests &&
      this.lowerRetests >= 2 * (this.upperRetests + 1);
    const dropGap = upper === null ? null : verifying && !refining ? upper + retestMargin(lower) : upper;
    const spacedUntil = this.lastCheckAt + SEARCH.retestSpacingSeconds;
    const overUpper = dropGap === null ? [] : this.idleSessions().filter((x) => gap(x) >= upper! - 1e-6);
    // A session idle past the upper edge is checked there rather than dropped whenever a check
    // is free: it is spent either way, and a sweeper may spare it.
    const upperHeld =
      upperTurn || (verifying && !refining && !this.checking && !this.burst && now >= spacedUntil)
        ? overUpper[0]
        : undefined;
    // Sessions idle past the smallest expiry above every survival would only expire too.
    if (dropGap !== null) {
      for (const s of this.idleSessions()) {
        if (s !== upperHeld && gap(s) >= dropGap - 1e-6) {
          this.sessions.delete(s.id);
          actions.push({ type: 'drop', session: s.id });
        }
      }
    }
    const deadline = this.deadline() ?? Number.POSITIVE_INFINITY;
    const dropAt = (s: PoolSession) =>
      s === upperHeld ? Number.POSITIVE_INFINITY : s.lastActiveAt! + (dropGap ?? Number.POSITIVE_INFINITY);
    const idle = this.idleSessions();
    const nextDrop = Math.min(...idle.map(dropAt));
    const wake = (at: number) => ({ actions, wakeAt: finite(Math.min(at, deadline, nextDrop, nextOpen)) });
    if (this.checking) return wake(Number.POSITIVE_INFINITY);
    if (idle.length === 0) {
      if (this.sessions.size === 0 && this.opened >= this.opts.budget) this.outOfSessions(now);
      return wake(Number.POSITIVE_INFINITY);
    }
    const checkNow = (s: PoolSession, gapSeconds: number) => {
      s.busy = true;
      this.checking = true;
      this.lastCheckAt = now;
      if (verifying && gapSeconds <= lower) this.lowerRetests++;
      if (verifying && upper !== null && gapSeconds > upper) this.upperRetests++;
      actions.push({ type: 'check', session: s.id, gapSeconds: round(gapSeconds) });
      return { actions, wakeAt: null };
    };
    // Right after an expiry (for a sweeper: right after a sweep, when what is left of T is
    // smallest) the oldest session idle no longer than the lower edge is checked at once.
    if (this.burst) {
      const s = idle.find((x) => gap(x) <= lower && gap(x) >= this.burstFloor());
      if (s) return checkNow(s, gap(s));
      this.burst = false;
    }
    if (upperHeld) {
      const due = Math.max(spacedUntil, upperHeld.lastActiveAt! + dropGap!);
      if (now >= due - 1e-6) return checkNow(upperHeld, gap(upperHeld));
      if (upperTurn) return wake(due);
    } else if (upperTurn) return wake(Number.POSITIVE_INFINITY);
    if (refining) {
      // Halve the bracket: the session idle closest above its middle, else the next to reach it.
      const middle = (lower + upper!) / 2;
      const inside = idle.filter((x) => gap(x) >= middle - 1e-6 && gap(x) < upper!);
      const s = inside.at(-1);
      if (s && now >= spacedUntil) return checkNow(s, gap(s));
      const next = idle.find((x) => gap(x) < middle);
      return wake(s ? spacedUntil : next ? next.lastActiveAt! + middle : Number.POSITIVE_INFINITY);
    }
    const target = this.target();
    // The climb takes the oldest session (one idle beyond the target tests a larger gap);
    // re-tests take the oldest one not yet idle beyond the lower edge.
    const next = this.phase === 'climb' ? idle[0] : idle.find((x) => gap(x) <= lower);
    if (!next) return wake(Number.POSITIVE_INFINITY);
    if (this.phase !== 'climb' && now < spacedUntil)
      return wake(Math.max(spacedUntil, next.lastActiveAt! + target));
    // (A millisecond's rounding must not leave a due check waiting for itself.)
    if (gap(next) >= target - 1e-6) return checkNow(next, Math.max(target, gap(next)));
    return wake(next.lastActiveAt! + target);
  }

  /** A session finished opening; `lastActiveAt` is the end of its last exchange. */
  sessionOpened(session: number, lastActiveAt: number): void {
    const s = this.sessions.get(session);
    if (!s) return;
    s.lastActiveAt = lastActiveAt;
    s.busy = false;
  }

  sessionFailed(session: number, now: number): void {
    this.sessions.delete(session);
    this.fail(now);
  }

  /**
   * A check ended. `gapSeconds` is the idle gap actually measured (the tracker's), `endedAt`
   * the end of the exchange (a survivor's new last activity).
   */
  checked(session: number, r: { outcome: CheckOutcome; gapSeconds: number | null; endedAt: number }): void {
    this.checking = false;
    this.checks++;
    const s = this.sessions.get(session);
    if (r.outcome === 'failed' || r.gapSeconds === null) {
      this.sessions.delete(session);
      this.fail(r.endedAt);
      return;
    }
    const before = this.window();
    const idleSince = s?.lastActiveAt ?? r.endedAt - r.gapSeconds;
    this.points.push({
      gapSeconds: r.gapSeconds,
      survived: r.outcome === 'survived',
      idleSince,
      startedAt: idleSince + r.gapSeconds,
      endedAt: r.endedAt,
    });
    if (r.outcome === 'survived' && s) {
      s.lastActiveAt = r.endedAt;
      s.busy = false;
    } else this.sessions.delete(session);
    this.burst = r.outcome === 'expired';
    const after = this.window();
    if (before.lowerSeconds !== after.lowerSeconds || before.upperSeconds !== after.upperSeconds)
      this.steps.push({ t: this.since(r.endedAt), ...this.edges(this.reportedWindow()), phase: this.phase });
    this.advance(r.endedAt);
  }

  /** Sessions still open that the caller should close (after `done`). */
  openSessions(): number[] {
    return [...this.sessions.keys()];
  }

  summary(): SearchSummary {
    const w = this.reportedWindow();
    const lower = w.lowerSeconds ?? 0;
    return {
      phase: this.phase,
      stopReason: this.stopReason,
      window: w,
      widthSeconds: w.upperSeconds === null ? null : round(w.upperSeconds - lower),
      toleranceSeconds: round(toleranceAt(lower)),
      sessionsOpened: this.opened,
      checks: this.checks,
      survivals: this.points.filter((p) => p.survived).length,
      expirations: this.points.filter((p) => !p.survived).length,
      failures: this.failures,
      narrowAfterSeconds: this.narrowAt === null ? null : round(this.since(this.narrowAt)),
      startedFrom: this.opts.hint ?? null,
      steps: [...this.steps],
      sweep: this.sweepReading(),
    };
  }

  // ---------------------------------------------------------------------------

  private since(at: number): number {
    return round(at - this.opts.startedAt);
  }

  private edges(w: SearchWindow) {
    const r = (x: number | null) => (x === null ? null : round(x));
    return { lowerSeconds: r(w.lowerSeconds), upperSeconds: r(w.upperSeconds) };
  }

  private fail(now: number): void {
    this.failures++;
    if (this.failures >= SEARCH.maxFailures) this.stop('failures', now);
  }

  private stop(reason: SearchStopReason, now: number): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.stopReason = reason;
    this.steps.push({ t: this.since(now), ...this.edges(this.reportedWindow()), phase: 'done' });
  }

  private narrow(w: SearchWindow): boolean {
    if (w.upperSeconds === null) return false;
    const lower = w.lowerSeconds ?? 0;
    return w.upperSeconds - lower <= toleranceAt(lower);
  }

  /** Moves between phases; called whenever something changed or time passed. */
  private advance(now: number): void {
    if (this.phase === 'done') return;
    const w = this.window();
    if (this.narrow(w) && this.narrowAt === null) this.narrowAt = now;
    if (w.overlapping && this.phase !== 'sweeper') this.enter('sweeper', now);
    if (this.phase === 'climb') {
      if (this.narrow(w)) {
        const lower = w.lowerSeconds ?? 0;
        // Below the smallest step there is nothing to re-test.
        const verifyFor =
          lower < SEARCH.minStepSeconds ? 0 : Math.max(SEARCH.verifyMinSeconds, SEARCH.verifyShare * lower);
        this.verifyUntil = now + verifyFor;
        this.enter('verify', now);
      } else if (w.upperSeconds === null && (w.lowerSeconds ?? 0) >= this.opts.maxIdleSeconds) {
        this.stop('max-idle', now);
        return;
      }
    }
    const deadline = this.deadline();
    if (this.phase === 'verify' && (now >= this.verifyUntil || (deadline !== null && now >= deadline)))
      this.stop('pinned', now);
    else if (this.phase === 'sweeper' && deadline !== null && now >= deadline) this.stop('sweeper', now);
    if (!this.done && this.sessions.size === 0 && this.opened >= this.opts.budget) this.outOfSessions(now);
  }

  /** Every session is spent: re-tests end as if their time were up; a climb has failed. */
  private outOfSessions(now: number): void {
    this.stop(this.phase === 'verify' ? 'pinned' : this.phase === 'sweeper' ? 'sweeper' : 'budget', now);
  }

  private enter(phase: SearchPhase, now: number): void {
    this.phase = phase;
    this.steps.push({ t: this.since(now), ...this.edges(this.reportedWindow()), phase });
  }

  /** When re-testing must stop: the last check must end by 2 L + 10 s (T is above L). */
  private deadline(): number | null {
    if (this.phase !== 'verify' && this.phase !== 'sweeper') return null;
    const lower = this.window().lowerSeconds ?? 0;
    const end = this.opts.startedAt + 2 * lower + 10 - SEARCH.finishMarginSeconds;
    return this.phase === 'verify' ? Math.min(end, this.verifyUntil) : end;
  }

  /** The idle gap the next check tests. */
  private target(): number {
    const w = this.window();
    const lower = w.lowerSeconds ?? 0;
    if (this.phase === 'climb') {
      const step = lower + stepAbove(lower);
      const next = w.upperSeconds === null ? Math.max(step, this.climbFrom) : step;
      // The last climb step tests max-idle itself.
      return lower < this.opts.maxIdleSeconds ? Math.min(next, this.opts.maxIdleSeconds) : next;
    }
    // The lower edge's re-tests go just below it: a sweeper kills there at the most phases.
    if (this.phase === 'verify') return lower - retestMargin(lower);
    // A sweeper's re-tests take turns at three depths below the lower edge: just below it (a
    // sweeper kills there soonest) and a half and a whole climb step below (an expiry there
    // lowers the edge further at once).
    const depth = [retestMargin(lower), stepAbove(lower) / 2, stepAbove(lower)][this.checks % 3]!;
    return Math.max(lower / 2, lower - depth);
  }

  private burstFloor(): number {
    const lower = this.window().lowerSeconds ?? 0;
    return Math.max(0.05, lower - 2 * stepAbove(lower));
  }

  /** Opened sessions not being checked, oldest (longest idle) first. */
  private idleSessions(): PoolSession[] {
    return [...this.sessions.values()]
      .filter((s) => !s.busy && s.lastActiveAt !== null)
      .sort((a, b) => a.lastActiveAt! - b.lastActiveAt!);
  }
}

const round = (s: number): number => Math.round(s * 1000) / 1000;
const finite = (at: number): number | null => (Number.isFinite(at) ? at : null);

/**
 * A lower bound on T that holds for an upstream that ends sessions idle for more than T at
 * sweeps (moments it chooses), as well as for a clean timeout (a sweep at every moment).
 *
 * A survival i and an expiry j of a session idle at least as recently (idleSince_i <=
 * idleSince_j), checked later (start_j > start_i), show a sweep between the two checks: the
 * sweep that ended j came after idleSince_j + T, and none came between idleSince_i + T and
 * start_i. A session k idle across that whole interval and still alive after it survived
 * that sweep, so T >= sweep - idleSince_k > start_i - idleSince_k.
 */
export function sweptLower(points: readonly Point[]): number | null {
  const survivals = points.filter((p) => p.survived);
  let best: number | null = null;
  for (const j of points) {
    if (j.survived) continue;
    // The latest survival before j of a session idle at least as long: the tightest bracket.
    let from: number | null = null;
    for (const i of survivals)
      if (i.idleSince <= j.idleSince && i.startedAt < j.startedAt && (from === null || i.startedAt > from))
        from = i.startedAt;
    if (from === null) continue;
    for (const k of survivals) {
      if (k.idleSince > from || k.startedAt < j.endedAt) continue;
      const bound = from - k.idleSince;
      if (best === null || bound > best) best = bound;
    }
  }
  return best === null ? null : round(best);
}

/**
 * The longest stretch of time in which, were T at most `lowerSeconds`, a sweep would have
 * ended a session that survived: a survival after idle g shows no sweep fell in the last
 * g - lowerSeconds seconds of its idle time. An upstream that sweeps at least this often thus
 * has T > lowerSeconds (an exact timer sweeps all the time).
 */
export function sweepCover(points: readonly Point[], lowerSeconds: number): number {
  const spans = points
    .filter((p) => p.survived && p.gapSeconds > lowerSeconds)
    .map((p) => [p.idleSince + lowerSeconds, p.startedAt] as const)
    .sort((a, b) => a[0] - b[0]);
  let best = 0;
  let from = Number.NaN;
  let to = Number.NEGATIVE_INFINITY;
  for (const [x, y] of spans) {
    if (x > to) from = x;
    to = Math.max(to, y);
    best = Math.max(best, to - from);
  }
  return best;
}

/**
 * The largest l with sweepCover(l) >= l: for an upstream that sweeps at least once per
 * timeout (mcp-proxy sweeps every min(T, 60 s)), T <= l would leave a sweep in that stretch.
 * One survival at gap g gives g/2. Null without survivals.
 */
export function anySweeperLower(points: readonly Point[]): number | null {
  const largest = Math.max(...points.filter((p) => p.survived).map((p) => p.gapSeconds));
  if (!Number.isFinite(largest)) return null;
  // sweepCover falls as l rises: halve the interval where the two cross.
  let lo = 0;
  let hi = largest;
  for (let i = 0; i < 40 && hi - lo > 1e-4; i++) {
    const mid = (lo + hi) / 2;
    if (sweepCover(points, mid) >= mid) lo = mid;
    else hi = mid;
  }
  return Math.floor(lo * 1000) / 1000;
}

/**
 * How much idle the upstream may have counted beyond the gap measured for an expiry: its idle
 * time runs from when it wrote its last answer (before the probe finished reading it) to when
 * it handled the check (after the probe sent it). The check's own round trip stands for both;
 * the caller adds at least `retestMargin` (a loaded machine delayed a handler by 100 ms).
 */
function clockAllowance(expiries: readonly Point[], gapSeconds: number): number {
  const at = expiries.filter((p) => p.gapSeconds === gapSeconds);
  return Math.max(0, ...at.map((p) => p.endedAt - p.startedAt));
}

const maxOf = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.max(a, b);
