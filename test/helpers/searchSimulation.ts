// Runs the `search` planner against a simulated upstream on a simulated clock: the same
// loop as the I/O shell (ask for a plan, start its actions, sleep until the plan's wake-up
// time or the next action's end), with requests that take a fixed time.
import { IdleTimeoutSearch, type SearchOptions, type SearchSummary } from '../../src/probe/search.js';

export interface SimulatedUpstream {
  /** Exact idle timeout: a request after this much idle time finds its session gone. */
  idleTimeoutSeconds: number;
  /** A sweeper: every `periodSeconds` (first at `phaseSeconds`) it ends sessions idle for more than T. */
  sweep?: { periodSeconds: number; phaseSeconds: number } | null;
}

export interface SimulationOptions extends Partial<Omit<SearchOptions, 'startedAt'>> {
  upstream: SimulatedUpstream;
  /** Seconds an open (initialize + initialized + tools/list) takes. */
  openSeconds?: number;
  /** Seconds a check (one tools/list) takes. */
  checkSeconds?: number;
  /** Opens at once, as the I/O shell allows (searchProbe.ts). Default 4. */
  openConcurrency?: number;
}

export interface SimulationResult {
  summary: SearchSummary;
  /** Seconds from the start until the last action ended. */
  wallSeconds: number;
  /** Sessions the upstream saw opened. */
  sessionsSeen: number;
}

interface Pending {
  at: number;
  run: () => void;
}

export function simulateSearch(o: SimulationOptions): SimulationResult {
  const T = o.upstream.idleTimeoutSeconds;
  const sweep = o.upstream.sweep ?? null;
  const openSeconds = o.openSeconds ?? 0.02;
  const checkSeconds = o.checkSeconds ?? 0.005;
  const search = new IdleTimeoutSearch({
    startedAt: 0,
    budget: o.budget ?? 31,
    maxIdleSeconds: o.maxIdleSeconds ?? 3600,
    hint: o.hint ?? null,
  });
  // The upstream's view of each session: its last activity, and whether it has ended it.
  const server = new Map<number, { lastActiveAt: number; gone: boolean }>();
  const expiredAt = (lastActiveAt: number, now: number): boolean => {
    if (!sweep) return now - lastActiveAt >= T;
    // The first sweep after lastActiveAt + T (strictly: "idle for more than T").
    const k = Math.floor((lastActiveAt + T - sweep.phaseSeconds) / sweep.periodSeconds) + 1;
    return sweep.phaseSeconds + k * sweep.periodSeconds <= now;
  };
  const pending: Pending[] = [];
  // When each open slot is next free.
  const slots: number[] = Array.from({ length: o.openConcurrency ?? 4 }, () => 0);
  let now = 0;
  let wall = 0;
  for (let guard = 0; guard < 200_000; guard++) {
    const plan = search.plan(now);
    for (const a of plan.actions) {
      if (a.type === 'open') {
        const slot = slots.indexOf(Math.min(...slots));
        const end = Math.max(now, slots[slot]!) + openSeconds;
        slots[slot] = end;
        pending.push({
          at: end,
          run: () => {
            server.set(a.session, { lastActiveAt: end, gone: false });
            search.sessionOpened(a.session, end);
          },
        });
      } else if (a.type === 'check') {
        const s = server.get(a.session)!;
        const startedAt = now;
        const gap = startedAt - s.lastActiveAt;
        if (!s.gone && expiredAt(s.lastActiveAt, startedAt)) s.gone = true;
        const outcome = s.gone ? 'expired' : 'survived';
        const end = startedAt + checkSeconds;
        if (!s.gone) s.lastActiveAt = end;
        pending.push({
          at: end,
          run: () => search.checked(a.session, { outcome, gapSeconds: gap, endedAt: end }),
        });
      }
    }
    if (search.done && pending.length === 0) break;
    const next = Math.min(plan.wakeAt ?? Number.POSITIVE_INFINITY, ...pending.map((p) => p.at));
    if (!Number.isFinite(next))
      throw new Error(`simulation stuck at t=${now}: ${JSON.stringify(search.summary())}`);
    now = Math.max(now, next);
    for (const p of pending.filter((x) => x.at <= now)) {
      pending.splice(pending.indexOf(p), 1);
      p.run();
      wall = Math.max(wall, p.at);
    }
    wall = Math.max(wall, now);
  }
  if (!search.done) throw new Error(`simulation did not finish: ${JSON.stringify(search.summary())}`);
  return { summary: search.summary(), wallSeconds: wall, sessionsSeen: server.size };
}
