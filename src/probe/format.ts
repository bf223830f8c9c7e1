// Text output of the probe CLI: progress lines (stderr), the per-upstream table and the
// per-interval summary (stdout). Pure string building.
import type { Checkpoint, ProbeEvent, ProbeResult, UpstreamProbeResult } from './result.js';
import type { SearchPhase, SweepReading } from './search.js';

const fmt = (n: number | null | undefined, digits = 3): string =>
  n === null || n === undefined ? '-' : n.toFixed(digits);

/** `5`, `0.5`, `300` — intervals as the user wrote them. */
export const formatSeconds = (s: number): string => `${Number(s.toFixed(3))}s`;

/** One progress line per event, or null for events not worth a line. */
export function progressLine(event: ProbeEvent): string | null {
  if (event.type === 'run-done') return `[t=+${Math.round(event.t)}s] run ${event.status}`;
  const head = `[upstream=${event.upstream} t=+${Math.round(event.t)}s]`;
  switch (event.type) {
    case 'opened':
      if (!event.sessionIssued && event.initLatencySeconds === null) {
        return `${head} SESSIONLESS (MCP ${event.protocolVersion ?? '?'}): no sessions exist; tools/list ${fmt(event.firstCallLatencySeconds)}s (tools=${event.toolsReturned ?? '?'})`;
      }
      return event.sessionIssued
        ? `${head} session opened: initialize ${fmt(event.initLatencySeconds)}s, first tools/list ${fmt(event.firstCallLatencySeconds)}s (tools=${event.toolsReturned ?? '?'}, protocol ${event.protocolVersion ?? '?'})`
        : `${head} STATELESS: no session id issued; initialize ${fmt(event.initLatencySeconds)}s, tools/list ${fmt(event.firstCallLatencySeconds)}s`;
    case 'control':
      return event.validatesSessionIds === false
        ? `${head} WARNING: a made-up session id was accepted (HTTP ${event.httpStatus}): this upstream does not validate session ids, survivals prove nothing`
        : `${head} control request with a made-up session id: refused (HTTP ${event.httpStatus ?? '-'}), ids are validated`;
    case 'waiting':
      return event.idleSecondsTarget >= 5
        ? `${head} idling ${formatSeconds(event.idleSecondsTarget)} (checkpoint at t=+${Math.round(event.untilSeconds)}s)`
        : null;
    case 'checkpoint':
      return `${head} ${checkpointText(event.checkpoint)}`;
    case 'keepalive': {
      const k = event.keepalive;
      return `${head} keepalive: ping every ${formatSeconds(k.intervalSeconds)} for ${formatSeconds(k.idleSeconds)} → ${k.keptAlive ? 'KEPT ALIVE' : `NOT kept alive (${k.errorType ?? 'unknown'})`} (${k.pings} pings, ${k.pingFailures} failed)`;
    }
    case 'search':
      return `${head} ${searchText(event)}`;
    case 'upstream-done':
      return event.fatalError ? `${head} FAILED: ${event.fatalError}` : `${head} done`;
  }
}

/** `(0.9s, 1.8s]`, or `(0.9s, ∞)` before anything expired. */
export function windowInterval(lower: number | null, upper: number | null): string {
  const from = lower === null ? '0s' : formatSeconds(lower);
  return upper === null ? `(${from}, ∞)` : `(${from}, ${formatSeconds(upper)}]`;
}

const PHASE_TEXT: Record<SearchPhase, string> = {
  climb: 'climbing',
  verify: 're-testing the edges at new phases',
  sweeper: 'sweeper: survivals and expiries overlap; lower edge from sweeps survived',
  done: 'done',
};

function searchText(e: Extract<ProbeEvent, { type: 'search' }>): string {
  const window = `window ${windowInterval(e.lowerSeconds, e.upperSeconds)}`;
  const width = e.widthSeconds === null ? '' : ` width ${formatSeconds(e.widthSeconds)}`;
  const counts = `${e.sessionsOpened} sessions, ${e.checks} checks`;
  if (e.phase === 'done') return `search ${e.stopReason ?? 'done'}: ${window}${width} (${counts})`;
  return `search ${window}${width}: ${PHASE_TEXT[e.phase]} (${counts})`;
}

function checkpointText(c: Checkpoint): string {
  const gap =
    c.elapsedSinceLastCallSeconds !== null &&
    Math.abs(c.elapsedSinceLastCallSeconds - c.idleSecondsTarget) > 0.5
      ? ` (real idle gap ${formatSeconds(c.elapsedSinceLastCallSeconds)})`
      : '';
  const label = `idle ${formatSeconds(c.idleSecondsTarget)}${gap}${c.streamAttached ? ' with GET stream' : ''}`;
  if (c.success) return `OK ${fmt(c.latencySeconds)}s (tools=${c.toolsReturned ?? '?'}) after ${label}`;
  const status = c.httpStatus === null ? '' : ` HTTP ${c.httpStatus}`;
  return `${(c.errorType ?? 'error').toUpperCase()}${status} after ${label}${c.errorMessage ? `: ${c.errorMessage}` : ''}`;
}

function cell(r: UpstreamProbeResult, target: number): string {
  const c = r.checkpoints.find((x) => x.idleSecondsTarget === target && (x.round ?? 0) === 0);
  if (!c) return r.stateless ? 'n/a' : '-';
  return c.success ? 'OK' : (c.errorType ?? 'error');
}

function windowText(r: UpstreamProbeResult): string {
  const w = r.window;
  if (r.stateless) return r.sessionless?.supported && r.sessionIssued === false ? 'sessionless' : 'stateless';
  if (!w) return '-';
  if (w.upperSeconds === null) return w.lowerSeconds === null ? '-' : `> ${formatSeconds(w.lowerSeconds)}`;
  return `(${w.lowerSeconds === null ? '0s' : formatSeconds(w.lowerSeconds)}, ${formatSeconds(w.upperSeconds)}]${w.overlapping ? ' overlap' : ''}`;
}

/** The per-upstream table (stdout). */
export function resultTable(result: ProbeResult): string {
  const header = [
    'upstream',
    'init s',
    'first call s',
    'warm call s',
    ...result.intervals.map((i) => `idle ${formatSeconds(i)}`),
    'idle window',
    'ids validated',
    'DELETE',
    'notes',
  ];
  const rows = result.results.map((r) => [
    r.upstream,
    fmt(r.initLatencySeconds),
    fmt(r.firstCallLatencySeconds),
    fmt(r.warmCallLatencySeconds),
    ...result.intervals.map((i) => cell(r, i)),
    windowText(r),
    r.validatesSessionIds === null ? '-' : r.validatesSessionIds ? 'yes' : 'NO',
    r.deleteSupported === null ? '-' : r.deleteSupported ? 'yes' : 'no',
    r.fatalError ?? (r.warnings.length ? r.warnings.map((w) => w.split(':')[0]).join('; ') : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cols: string[]) =>
    cols
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `Idle 300s: 3/5 upstreams survived`, one line per interval, over upstreams that tested it. */
export function intervalSummary(result: ProbeResult): string[] {
  return result.intervals.map((interval) => {
    const tested = result.results.filter((r) =>
      r.checkpoints.some((c) => c.idleSecondsTarget === interval && c.failedAt !== 'open'),
    );
    const survived = tested.filter((r) =>
      r.checkpoints.some((c) => c.idleSecondsTarget === interval && c.success),
    );
    return `Idle ${formatSeconds(interval)}: ${survived.length}/${tested.length} upstreams survived`;
  });
}

/** What the lower edge holds for when no sweeper showed (absent in results saved before). */
function sweepNote(sweep: SweepReading | undefined): string {
  if (!sweep || sweep.detected || sweep.lowerHoldsForPeriodUpToSeconds === null) return '';
  const any =
    sweep.anySweeperLowerSeconds === null
      ? ''
      : `, for any sweeper above ${formatSeconds(sweep.anySweeperLowerSeconds)}`;
  return `; no sweeper seen: the lower edge holds for a timer and for sweeps every ${formatSeconds(sweep.lowerHoldsForPeriodUpToSeconds)} or more often${any}`;
}

/** `search`: one line per upstream saying how the search went. */
export function searchSummary(result: ProbeResult): string[] {
  return result.results.map((r) => {
    const s = r.search;
    if (!s) return `${r.upstream}: no search (${r.fatalError ?? (r.stateless ? 'stateless' : 'not run')})`;
    const w = s.window;
    const width = s.widthSeconds === null ? '' : `, width ${formatSeconds(s.widthSeconds)}`;
    const narrow =
      s.narrowAfterSeconds === null
        ? ''
        : `, narrower than ${formatSeconds(s.toleranceSeconds)} after ${formatSeconds(s.narrowAfterSeconds)}`;
    const why: Record<string, string> = {
      pinned: 'pinned',
      sweeper:
        'a sweeper (survivals above expiries): T lies in the window, and sessions live up to T plus one sweep period',
      'max-idle': `nothing expired up to ${formatSeconds(s.maxIdleSeconds)} idle`,
      budget: `the budget of ${s.budget} sessions ran out`,
      failures: 'stopped after repeated errors other than expiry',
    };
    const reason = s.stopReason ? why[s.stopReason] : s.phase;
    return `${r.upstream}: search ${reason}: window ${windowInterval(w.lowerSeconds, w.upperSeconds)}${width}${narrow}; ${s.sessionsOpened + 1} sessions, ${s.checks} checks${sweepNote(s.sweep)}`;
  });
}
