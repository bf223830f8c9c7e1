// Probing one upstream: the baseline measurements (connect, initialize, initialized,
// cold and warm tools/list, control request, DELETE), then the idle checkpoints of the
// chosen mode, then the optional keepalive check. The result object is filled in as
// the probe goes, so a cancelled run still reports everything measured so far.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthRequiredError } from '../auth/provider.js';
import type { ProbeMode } from '../config/schema.js';
import { authRefusal } from './authRefusal.js';
import {
  type Checkpoint,
  type KeepaliveResult,
  type ProbeEvent,
  seconds,
  type UpstreamProbeResult,
} from './result.js';
import { type SearchRunOptions, searchIdleTimeout } from './searchProbe.js';
import { ProbeSession, toolsReturned } from './session.js';
import { probeSessionless, type SessionlessProbeResult } from './sessionless.js';
import { bisectStaggerMs, idleWindow, nextBisectGaps, windowIsNarrow } from './window.js';
import { type ExchangeResult, measureConnectMs, ProbeCancelled, type ProbeWire } from './wire.js';

export interface BisectOptions {
  /** Sessions bisect may open after the initial fanout. Default 16. */
  budget: number;
  /** Stop once the window is narrower than max(this, 10% of its lower edge). Default 1 s. */
  minWindowSeconds: number;
  /** Sessions per round. Default 3. */
  parallel: number;
}

export interface ProbeUpstreamOptions {
  wire: ProbeWire;
  result: UpstreamProbeResult;
  mode: ProbeMode;
  intervalsSeconds: readonly number[];
  keepaliveSeconds: number | null;
  bisect: BisectOptions;
  /** `search` mode settings; required in that mode. */
  search?: SearchRunOptions;
  signal: AbortSignal;
  /** Seconds since the run started, for events. */
  clock: () => number;
  emit: (event: ProbeEvent) => void;
}

/** Monotonic-enough wall clock in ms; the tracker uses the same one via the wire. */
type Now = () => number;

export async function probeUpstream(o: ProbeUpstreamOptions): Promise<void> {
  const { wire, result } = o;
  const now: Now = wire.opts.tracker.now;
  try {
    // The idle sessions start as soon as the first initialize shows the upstream answers
    // and issues session ids; the rest of the baseline runs meanwhile, so the wall time
    // of a run stays about its longest interval.
    let sessionful!: (yes: boolean) => void;
    const firstSession = new Promise<boolean>((resolve) => {
      sessionful = resolve;
    });
    const idle = (async () => {
      if (!(await firstSession)) return;
      if (o.mode === 'ladder') await ladder(o, now);
      else if (o.mode === 'search') await searchIdleTimeout(o, o.search!);
      else {
        await Promise.all([
          fanout(o, now, o.intervalsSeconds, o.mode === 'bisect' ? 0 : null),
          busySession(o, now, o.intervalsSeconds),
        ]);
        if (o.mode === 'bisect') await bisect(o, now);
      }
    })();
    const base = baseline(o, sessionful).finally(() => sessionful(false));
    const [b, i] = await Promise.allSettled([base, idle]);
    if (b.status === 'rejected') throw b.reason;
    if (i.status === 'rejected') throw i.reason;
    if (result.fatalError === null && result.stateless === false) {
      // A search reports its own window (for a sweeper, a lower edge that holds despite it).
      const searched = result.search;
      result.window = searched
        ? { ...searched.window, survivals: searched.survivals, expirations: searched.expirations }
        : windowOf(result.checkpoints);
      if (o.keepaliveSeconds !== null) await keepalive(o, now);
    }
  } catch (err) {
    if (err instanceof ProbeCancelled || o.signal.aborted) throw new ProbeCancelled();
    // `auth_required: ...; run: mcp-session-probe login <id>`: the credential, never a session expiry.
    if (err instanceof AuthRequiredError) result.fatalError = err.message;
    else result.fatalError = `probe of "${result.upstream}" failed: ${(err as Error).message}`;
  } finally {
    o.emit({
      type: 'upstream-done',
      t: o.clock(),
      upstream: result.upstream,
      fatalError: result.fatalError,
      warnings: result.warnings,
    });
  }
}

/** `sessionful` is told, right after the first initialize, whether idle checkpoints make sense. */
async function baseline(o: ProbeUpstreamOptions, sessionful: (yes: boolean) => void): Promise<void> {
  const { wire, result } = o;
  result.connectSeconds = seconds(await measureConnectMs(wire.opts.url, wire.opts.timeoutMs));
  // The sessionless era first (docs/eras.md), then the 2025 handshake: an upstream may speak both.
  const sessionless = wire.carriesSessionless ? await probeSessionless(wire) : null;
  result.sessionless = sessionless;
  const opened = await ProbeSession.open(wire, (init) =>
    sessionful(init.outcome === 'ok' && init.issuedSessionId !== null),
  );
  if ((opened.failure?.step === 'initialize' || !opened.session) && sessionless?.supported) {
    sessionlessOnly(o, sessionless, opened.init);
    return;
  }
  if (opened.failure?.step === 'initialize' || !opened.session) {
    const e = opened.init;
    const refusal = `initialize failed: ${e.outcome}${e.httpStatus ? ` (HTTP ${e.httpStatus})` : ''}${e.errorMessage ? `: ${e.errorMessage}` : ''}`;
    result.fatalError = e.outcome === 'auth' ? authRefusal(wire.opts, refusal) : refusal;
    return;
  }
  // Only a handshake that succeeded has an init time: a refused connection is not a fast server.
  result.initLatencySeconds = seconds(opened.init.latencyMs);
  const session = opened.session;
  result.sessionIssued = session.sessionId !== null;
  result.stateless = session.sessionId === null;
  result.sessionModel = result.stateless ? 'sessionless' : sessionless?.supported ? 'both' : 'sessions';
  result.protocolVersion = session.protocolVersion;
  result.serverName = session.serverName;
  result.serverVersion = session.serverVersion;
  result.initializedLatencySeconds = seconds(opened.initialized?.latencyMs);
  if (opened.failure) {
    const e = opened.failure.exchange;
    result.fatalError = `${opened.failure.step} failed right after initialize: ${e.outcome}${e.httpStatus ? ` (HTTP ${e.httpStatus})` : ''}${e.errorMessage ? `: ${e.errorMessage}` : ''}`;
    await session.close({ delete: true });
    return;
  }
  const first = opened.firstCall!;
  result.firstCallLatencySeconds = seconds(first.latencyMs);
  result.toolsReturned = toolsReturned(first);
  const warm = await session.listTools();
  result.warmCallLatencySeconds = warm.outcome === 'ok' ? seconds(warm.latencyMs) : null;
  result.perCallCostSeconds = seconds(
    opened.init.latencyMs + (opened.initialized?.latencyMs ?? 0) + first.latencyMs,
  );
  o.emit({
    type: 'opened',
    t: o.clock(),
    upstream: result.upstream,
    sessionIssued: result.sessionIssued,
    initLatencySeconds: result.initLatencySeconds,
    firstCallLatencySeconds: result.firstCallLatencySeconds,
    toolsReturned: result.toolsReturned,
    protocolVersion: result.protocolVersion,
  });

  if (result.stateless) {
    result.warnings.push(
      `stateless: "${result.upstream}" issues no session id, so sessions have no idle lifetime; idle checkpoints skipped. Each call costs about ${result.perCallCostSeconds}s with a fresh initialize, ${result.warmCallLatencySeconds}s without.`,
    );
    return;
  }

  // The control request: a made-up session id. A server that serves it does not check ids.
  const control = await wire.post(
    { method: 'tools/list' },
    {
      sessionId: `mcp-session-probe-control-${randomUUID()}`,
      trackedSessionId: null,
      protocolVersion: session.protocolVersion,
    },
  );
  const accepted = control.outcome === 'ok';
  result.controlRequest = { httpStatus: control.httpStatus, outcome: control.outcome, accepted };
  result.validatesSessionIds = control.httpStatus === null ? null : !accepted;
  if (accepted) {
    result.warnings.push(
      `SESSION IDS NOT VALIDATED: "${result.upstream}" served a made-up session id (HTTP ${control.httpStatus}); survivals prove nothing about its idle lifetime.`,
    );
  }
  o.emit({
    type: 'control',
    t: o.clock(),
    upstream: result.upstream,
    validatesSessionIds: result.validatesSessionIds,
    httpStatus: control.httpStatus,
  });

  const del = await session.close({ delete: true });
  result.deleteHttpStatus = del?.httpStatus ?? null;
  result.deleteSupported =
    del?.httpStatus === null || del?.httpStatus === undefined
      ? null
      : del.httpStatus >= 200 && del.httpStatus < 300;
}

/**
 * The upstream speaks only the sessionless era: `initialize` was refused, so there is no session
 * whose lifetime could be measured, and that is an answer, not a failure.
 */
function sessionlessOnly(o: ProbeUpstreamOptions, s: SessionlessProbeResult, init: ExchangeResult): void {
  const { result } = o;
  result.sessionModel = 'sessionless';
  result.sessionIssued = false;
  result.stateless = true;
  result.initLatencySeconds = null;
  result.protocolVersion = s.protocolVersion;
  result.firstCallLatencySeconds = s.callLatencySeconds;
  result.toolsReturned = s.toolsReturned;
  result.perCallCostSeconds = s.callLatencySeconds;
  const refused = `${init.outcome}${init.httpStatus ? ` (HTTP ${init.httpStatus})` : ''}${init.record.rpcErrorCode !== null ? `, JSON-RPC ${init.record.rpcErrorCode}` : ''}`;
  result.warnings.push(
    `sessionless: "${result.upstream}" speaks MCP ${s.protocolVersion} only (initialize answered ${refused}); sessions do not exist there, so idle checkpoints were skipped. A call costs ${s.callLatencySeconds ?? '?'}s with no handshake; server/discover ${s.discoverLatencySeconds ?? '?'}s, cacheable.`,
  );
  o.emit({
    type: 'opened',
    t: o.clock(),
    upstream: result.upstream,
    sessionIssued: false,
    initLatencySeconds: null,
    firstCallLatencySeconds: result.firstCallLatencySeconds,
    toolsReturned: result.toolsReturned,
    protocolVersion: result.protocolVersion,
  });
}

/** Sleeps until `atMs` on the tracker clock; throws ProbeCancelled when the run is cancelled. */
export async function sleepUntil(atMs: number, now: Now, signal: AbortSignal): Promise<void> {
  // Timers may fire a millisecond early against Date.now(): loop so a gap is never short of its target.
  for (let ms = atMs - now(); ms > 0; ms = atMs - now()) {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      throw new ProbeCancelled();
    }
  }
  if (signal.aborted) throw new ProbeCancelled();
}

export function checkpointFrom(
  target: number,
  exchange: ExchangeResult,
  openedAtMs: number,
  streamAttached: boolean,
  round: number | null,
): Checkpoint {
  const r = exchange.record;
  const ok = exchange.outcome === 'ok';
  return {
    idleSecondsTarget: target,
    elapsedSinceOpenSeconds: seconds(r.startedAt - openedAtMs),
    elapsedSinceLastCallSeconds: seconds(r.idleGapMs),
    success: ok,
    latencySeconds: seconds(exchange.latencyMs),
    toolsReturned: ok ? toolsReturned(exchange) : null,
    errorType: ok ? null : exchange.outcome,
    errorMessage: ok ? null : exchange.errorMessage,
    httpStatus: exchange.httpStatus,
    streamAttached: streamAttached || r.streamAttached,
    failedAt: ok ? null : 'checkpoint',
    round,
  };
}

function openFailure(
  target: number,
  exchange: ExchangeResult,
  step: string,
  round: number | null,
): Checkpoint {
  return {
    idleSecondsTarget: target,
    elapsedSinceOpenSeconds: null,
    elapsedSinceLastCallSeconds: null,
    success: false,
    latencySeconds: seconds(exchange.latencyMs),
    toolsReturned: null,
    errorType: exchange.outcome === 'ok' ? 'http_error' : exchange.outcome,
    errorMessage: `could not open a session (${step}): ${exchange.errorMessage ?? exchange.outcome}`,
    httpStatus: exchange.httpStatus,
    streamAttached: false,
    failedAt: 'open',
    round,
  };
}

export function record(o: ProbeUpstreamOptions, c: Checkpoint): void {
  o.result.checkpoints.push(c);
  o.emit({ type: 'checkpoint', t: o.clock(), upstream: o.result.upstream, checkpoint: c });
}

/** Opens a session and (with --hold-stream) its GET stream. */
export async function openForIdle(o: ProbeUpstreamOptions, target: number, round: number | null) {
  let streamRefused = false;
  const opened = await ProbeSession.open(o.wire, undefined, async (s) => {
    if (o.result.holdStream) streamRefused = !(await s.holdStream());
  });
  if (opened.failure || !opened.session) {
    const f = opened.failure ?? { step: 'initialize', exchange: opened.init };
    await opened.session?.close({ delete: true });
    record(o, openFailure(target, f.exchange, f.step, round));
    return null;
  }
  const session = opened.session;
  if (streamRefused) {
    o.result.warnings.push(
      `--hold-stream: "${o.result.upstream}" refused a standalone GET stream; idled without one`,
    );
  }
  return { session, openedAtMs: opened.init.record.startedAt, lastEndMs: opened.firstCall!.record.endedAt! };
}

/**
 * One session per gap; each idles its gap once, then one tools/list. Sessions open together,
 * or `staggerMs` apart: a server that sweeps idle sessions periodically would otherwise meet
 * every session of a round at the same phase of its sweep, and the round would see one phase.
 */
async function fanout(
  o: ProbeUpstreamOptions,
  now: Now,
  gaps: readonly number[],
  round: number | null,
  staggerMs = 0,
) {
  const start = now();
  await Promise.all(
    gaps.map(async (gap, i) => {
      if (staggerMs > 0 && i > 0) await sleepUntil(start + i * staggerMs, now, o.signal);
      const opened = await openForIdle(o, gap, round);
      if (!opened) return;
      const { session } = opened;
      try {
        o.emit({
          type: 'waiting',
          t: o.clock(),
          upstream: o.result.upstream,
          idleSecondsTarget: gap,
          untilSeconds: o.clock() + gap,
        });
        await sleepUntil(opened.lastEndMs + gap * 1000, now, o.signal);
        const answer = await session.listTools();
        record(o, checkpointFrom(gap, answer, opened.openedAtMs, session.streamHeld, round));
        await session.close({ delete: answer.outcome === 'ok' && o.result.deleteSupported !== false });
      } catch (err) {
        await session.close({ delete: false }).catch(() => {});
        throw err;
      }
    }),
  );
}

/** One session; checkpoints at offsets from the first call; stops at the first failure. */
async function ladder(o: ProbeUpstreamOptions, now: Now): Promise<void> {
  const offsets = [...o.intervalsSeconds].sort((a, b) => a - b);
  const opened = await openForIdle(o, offsets[0] ?? 0, null);
  if (!opened) return;
  const { session } = opened;
  let alive = true;
  try {
    for (const offset of offsets) {
      o.emit({
        type: 'waiting',
        t: o.clock(),
        upstream: o.result.upstream,
        idleSecondsTarget: offset,
        untilSeconds: o.clock() + (opened.lastEndMs + offset * 1000 - now()) / 1000,
      });
      await sleepUntil(opened.lastEndMs + offset * 1000, now, o.signal);
      const answer = await session.listTools();
      record(o, checkpointFrom(offset, answer, opened.openedAtMs, session.streamHeld, null));
      if (answer.outcome !== 'ok') {
        alive = false;
        break;
      }
    }
  } finally {
    await session.close({ delete: alive && o.result.deleteSupported !== false }).catch(() => {});
  }
}

/** The probe's window over measured idle gaps (the same rule and clock noise as the analysis). */
function windowOf(checkpoints: readonly Checkpoint[]) {
  return idleWindow(
    checkpoints
      .filter((c) => (c.failedAt === 'checkpoint' ? c.errorType === 'session_expired' : c.success))
      .filter((c) => c.elapsedSinceLastCallSeconds !== null)
      .map((c) => ({
        gapSeconds: c.elapsedSinceLastCallSeconds!,
        survived: c.success,
        // A ladder's targets are offsets from the first call, not gaps.
        targetSeconds: c.round === null ? null : c.idleSecondsTarget,
      })),
  );
}

/**
 * Narrows the window round by round: each round idles its sessions at the window's midpoint,
 * opened staggered across the window's upper edge (a sweep period is at most about that long),
 * so a periodic sweeper shows its phases. Once survivals and expiries overlap, the window's
 * edges come from the sweep's phase, not from a threshold, and more rounds cannot narrow it:
 * bisect stops there. A window that narrowed without overlap is confirmed by one more round at
 * its upper edge: a clean timer kills every session there, a sweeper spares some.
 */
async function bisect(o: ProbeUpstreamOptions, now: Now): Promise<void> {
  let spent = 0;
  let round = 1;
  for (; ; round++) {
    const w = windowOf(o.result.checkpoints);
    if (w.upperSeconds === null || w.overlapping) return;
    if (windowIsNarrow(w, o.bisect.minWindowSeconds)) break;
    const count = Math.min(o.bisect.parallel, o.bisect.budget - spent);
    const gaps = nextBisectGaps(w, count);
    if (gaps.length === 0) break;
    spent += gaps.length;
    await fanout(o, now, gaps, round, bisectStaggerMs(w.upperSeconds, gaps.length));
  }
  const w = windowOf(o.result.checkpoints);
  const count = Math.min(o.bisect.parallel, o.bisect.budget - spent);
  if (w.upperSeconds === null || w.overlapping || count < 2) return;
  const confirm = Array.from({ length: count }, () => w.upperSeconds!);
  await fanout(o, now, confirm, round, bisectStaggerMs(w.upperSeconds, count));
}

/** At most this many pings keep the busy session busy, however long the longest gap. */
const MAX_BUSY_PINGS = 20;

/**
 * Idle versus age from the probe alone: fanout's sessions idle once each, so a session's idle
 * gap and its age move together and both explanations fit. One more session, kept busy with
 * pings (never idle longer than half the smallest gap, nor so often that it sends more than
 * `MAX_BUSY_PINGS`) for as long as the longest gap, breaks the tie: on an idle
 * timeout it lives on, on a maximum age it dies at that age with a short idle gap. Its
 * exchanges go to the store like any other; it adds no checkpoint (its gaps are not targets).
 */
async function busySession(o: ProbeUpstreamOptions, now: Now, gaps: readonly number[]): Promise<void> {
  if (gaps.length === 0) return;
  const longest = Math.max(...gaps);
  const intervalS = Math.max(Math.min(...gaps) / 2, longest / MAX_BUSY_PINGS, 0.02);
  const opened = await ProbeSession.open(o.wire);
  if (opened.failure || !opened.session) {
    await opened.session?.close({ delete: true }).catch(() => {});
    return;
  }
  const { session } = opened;
  const openedAt = opened.init.record.startedAt;
  const result = {
    pingIntervalSeconds: Math.round(intervalS * 1000) / 1000,
    pings: 0,
    aliveToAgeSeconds: null as number | null,
    survived: false,
    errorType: null as string | null,
  };
  o.result.busySession = result;
  let alive = true;
  try {
    // Ends a ping before the longest idle session is checked: the run's wall time stays that gap.
    const until = openedAt + (longest - intervalS) * 1000;
    let last = opened.firstCall!.record.endedAt ?? now();
    for (;;) {
      const next = last + intervalS * 1000;
      const done = next >= until;
      await sleepUntil(Math.min(next, until), now, o.signal);
      const answer = done ? await session.listTools() : await session.ping();
      if (!done) result.pings++;
      if (answer.outcome !== 'ok') {
        alive = false;
        result.errorType = answer.outcome;
        break;
      }
      result.aliveToAgeSeconds = seconds(answer.record.startedAt - openedAt);
      last = answer.record.endedAt ?? now();
      if (done) break;
    }
    result.survived = alive;
  } finally {
    await session.close({ delete: alive && o.result.deleteSupported !== false }).catch(() => {});
  }
}

/** A session that pings every N s for longer than the window's upper edge, then one tools/list. */
async function keepalive(o: ProbeUpstreamOptions, now: Now): Promise<void> {
  const interval = o.keepaliveSeconds!;
  const edge = o.result.window?.upperSeconds ?? Math.max(...o.intervalsSeconds);
  const idleSeconds = Math.round(Math.max(edge * 1.5, edge + interval) * 1000) / 1000;
  const opened = await openForIdle(o, idleSeconds, null);
  if (!opened) return;
  const { session } = opened;
  const result: KeepaliveResult = {
    intervalSeconds: interval,
    idleSeconds,
    pings: 0,
    pingFailures: 0,
    keptAlive: false,
    errorType: null,
    errorMessage: null,
  };
  try {
    const deadline = opened.lastEndMs + idleSeconds * 1000;
    let next = opened.lastEndMs + interval * 1000;
    while (next < deadline) {
      await sleepUntil(next, now, o.signal);
      const ping = await session.ping();
      result.pings++;
      if (ping.outcome !== 'ok') {
        result.pingFailures++;
        result.errorType = ping.outcome;
        result.errorMessage = `ping ${result.pings} failed: ${ping.errorMessage ?? ping.outcome}`;
        if (ping.outcome === 'session_expired') break;
      }
      next = (ping.record.endedAt ?? now()) + interval * 1000;
    }
    if (result.errorType !== 'session_expired') {
      await sleepUntil(deadline, now, o.signal);
      const answer = await session.listTools();
      result.keptAlive = answer.outcome === 'ok';
      if (!result.keptAlive) {
        result.errorType = answer.outcome;
        result.errorMessage = answer.errorMessage;
      }
    }
    o.result.keepalive = result;
    o.emit({ type: 'keepalive', t: o.clock(), upstream: o.result.upstream, keepalive: result });
  } finally {
    await session.close({ delete: result.keptAlive && o.result.deleteSupported !== false }).catch(() => {});
  }
}
