// The I/O side of the `search` mode: runs the planner in search.ts against a real upstream
// with the probe's own sessions (ProbeSession over ProbeWire, so every exchange is recorded
// like any other probe exchange), and reports the window as it narrows.
import type { ProbeEvent } from './result.js';
import { IdleTimeoutSearch, type SearchSummary } from './search.js';
import type { ProbeSession } from './session.js';
import { checkpointFrom, openForIdle, type ProbeUpstreamOptions, record } from './upstreamProbe.js';
import { ProbeCancelled } from './wire.js';

export interface SearchRunOptions {
  /** Sessions the whole probe of one upstream may open (the baseline's and a keepalive test's included). Default 32. */
  budget: number;
  /** Gaps beyond this are not tested. Default 3600 s. */
  maxIdleSeconds: number;
  /** The current window from the store (passive traffic and earlier probes), if any. */
  hint: { lowerSeconds: number | null; upperSeconds: number | null } | null;
}

/** Sessions being opened at once. */
const OPEN_CONCURRENCY = 4;

/** What the result JSON says about a search (`results[].search`). */
export interface SearchResultJson extends SearchSummary {
  budget: number;
  maxIdleSeconds: number;
}

type SearchEvent = Extract<ProbeEvent, { type: 'search' }>;

interface Held {
  session: ProbeSession;
  openedAtMs: number;
}

/** Runs the search; fills `o.result.search` as it goes (a cancelled run keeps what it found). */
export async function searchIdleTimeout(o: ProbeUpstreamOptions, search: SearchRunOptions): Promise<void> {
  const now = o.wire.opts.tracker.now;
  const seconds = () => now() / 1000;
  const planner = new IdleTimeoutSearch({
    startedAt: seconds(),
    // The baseline session counts against the upstream's budget too, and so does the
    // keepalive test's session when one follows.
    budget: Math.max(1, search.budget - 1 - (o.keepaliveSeconds === null ? 0 : 1)),
    maxIdleSeconds: search.maxIdleSeconds,
    hint: search.hint,
  });
  const held = new Map<number, Held>();
  const inFlight = new Set<Promise<void>>();
  let lastEvent = '';

  const publish = () => {
    const s = planner.summary();
    o.result.search = { ...s, budget: search.budget, maxIdleSeconds: search.maxIdleSeconds };
    const key = JSON.stringify([s.window, s.phase]);
    if (key === lastEvent) return;
    lastEvent = key;
    const event: SearchEvent = {
      type: 'search',
      t: o.clock(),
      upstream: o.result.upstream,
      phase: s.phase,
      stopReason: s.stopReason,
      lowerSeconds: s.window.lowerSeconds,
      upperSeconds: s.window.upperSeconds,
      overlapping: s.window.overlapping,
      widthSeconds: s.widthSeconds,
      sessionsOpened: s.sessionsOpened,
      checks: s.checks,
      sweepDetected: s.sweep.detected,
      lowerHoldsForPeriodUpToSeconds: s.sweep.lowerHoldsForPeriodUpToSeconds,
    };
    o.emit(event);
  };

  // Sessions open a few at a time: two dozen handshakes at once look like a burst to a hosted
  // server (rate limits), and legacy HTTP+SSE servers drop streams opened in a crowd.
  const openSlots = new Semaphore(OPEN_CONCURRENCY);
  const open = async (id: number) => {
    const opened = await openSlots.run(() => openForIdle(o, 0, null));
    if (!opened) {
      planner.sessionFailed(id, seconds());
      return;
    }
    held.set(id, { session: opened.session, openedAtMs: opened.openedAtMs });
    planner.sessionOpened(id, opened.lastEndMs / 1000);
  };

  const check = async (id: number, gapSeconds: number) => {
    const h = held.get(id)!;
    const answer = await h.session.listTools();
    const target = Math.round(gapSeconds * 1000) / 1000;
    record(o, checkpointFrom(target, answer, h.openedAtMs, h.session.streamHeld, null));
    const outcome =
      answer.outcome === 'ok' ? 'survived' : answer.outcome === 'session_expired' ? 'expired' : 'failed';
    if (outcome !== 'survived') {
      held.delete(id);
      await h.session.close({ delete: false }).catch(() => {});
    }
    planner.checked(id, {
      outcome,
      gapSeconds: answer.record.idleGapMs === null ? null : answer.record.idleGapMs / 1000,
      endedAt: (answer.record.endedAt ?? now()) / 1000,
    });
  };

  const drop = async (id: number) => {
    const h = held.get(id);
    held.delete(id);
    await h?.session.close({ delete: false }).catch(() => {});
  };

  // An action that throws (cancellation) ends the search at the next turn of the loop.
  let thrown: unknown = null;
  const start = (work: Promise<void>) => {
    const p: Promise<void> = work
      .catch((err) => {
        thrown ??= err;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  try {
    for (;;) {
      if (o.signal.aborted) throw new ProbeCancelled();
      if (thrown !== null) throw thrown;
      const plan = planner.plan(seconds());
      for (const a of plan.actions) {
        if (a.type === 'open') start(open(a.session));
        else if (a.type === 'check') start(check(a.session, a.gapSeconds));
        else start(drop(a.session));
      }
      publish();
      if (planner.done && inFlight.size === 0) break;
      await nextChange(inFlight, plan.wakeAt === null ? null : plan.wakeAt * 1000 - now(), o.signal);
    }
  } finally {
    // Ends what is still open: DELETE the live ones (unless the upstream refused DELETE).
    await Promise.allSettled(inFlight);
    await Promise.allSettled(
      [...held.values()].map((h) => h.session.close({ delete: o.result.deleteSupported !== false })),
    );
    publish();
  }
}

/** Resolves when an action settles or after `waitMs`; rejects with ProbeCancelled on cancel. */
async function nextChange(
  inFlight: ReadonlySet<Promise<void>>,
  waitMs: number | null,
  signal: AbortSignal,
): Promise<void> {
  if (inFlight.size === 0 && waitMs === null) return;
  let timer: NodeJS.Timeout | null = null;
  let onAbort: (() => void) | null = null;
  const waits: Promise<unknown>[] = [...inFlight];
  // A timer may fire a millisecond early: the planner is asked again and waits the rest.
  if (waitMs !== null)
    waits.push(new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, waitMs) + 1))));
  waits.push(
    new Promise<void>((_, reject) => {
      onAbort = () => reject(new ProbeCancelled());
      signal.addEventListener('abort', onAbort, { once: true });
    }),
  );
  try {
    await Promise.race(waits);
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** At most `limit` tasks at once, in the order they asked. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
