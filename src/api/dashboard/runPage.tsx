/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// One probe run as a page (`/probes/:id`): what was asked, the idle window each upstream got,
// every session's outcome, and how a search narrowed its window. The result JSON
// (docs/contract.md "Probe result JSON") stays one link away.
import type { Checkpoint, ProbeResult, UpstreamProbeResult } from '../../probe/result.js';
import type { SearchStopReason, SweepReading } from '../../probe/search.js';
import type { SearchResultJson } from '../../probe/searchProbe.js';
import type { IdleWindow } from '../../probe/window.js';
import { Page } from './layout.js';
import { useHref } from './mount.js';
import { ago } from './pages.js';
import { formatSeconds } from './scales.js';

/** Outcome labels (docs/contract.md) in words. */
const OUTCOME_WORDS: Record<string, string> = {
  ok: 'alive',
  session_expired: 'expired',
  rpc_error: 'JSON-RPC error',
  auth: 'refused: authentication',
  rate_limited: 'rate limited',
  capacity: 'server at capacity',
  http_error: 'HTTP error',
  timeout: 'timed out',
  connection_error: 'connection failed',
  stream_closed: 'stream closed',
};

export function outcomeWords(c: Pick<Checkpoint, 'success' | 'errorType' | 'failedAt'>): string {
  if (c.success) return 'alive';
  const what = OUTCOME_WORDS[c.errorType ?? ''] ?? (c.errorType ?? 'failed').replaceAll('_', ' ');
  return c.failedAt === 'open' ? `could not open a session (${what})` : what;
}

const STOP_WORDS: Record<SearchStopReason, string> = {
  pinned: 'pinned: the window is narrow and re-tests of its edges at new phases agreed',
  sweeper: 'sweeper: survivals and expiries overlap, so the window is the wider, honest one',
  'max-idle': 'nothing expired up to the largest gap tested: the timeout is longer, or there is none',
  budget: 'the session budget ran out before the window was narrow',
  failures: 'stopped: sessions could not be opened or checked',
};

const PHASE_WORDS: Record<string, string> = {
  climb: 'climbing: testing longer and longer gaps',
  verify: 're-testing the edges at new phases',
  sweeper: 'survivals and expiries overlap (a sweeper)',
  done: 'done',
};

function windowWords(w: Pick<IdleWindow, 'lowerSeconds' | 'upperSeconds'> | null): string {
  if (!w || (w.lowerSeconds === null && w.upperSeconds === null)) return 'not measured';
  if (w.upperSeconds === null) return `> ${formatSeconds(w.lowerSeconds)} (nothing expired)`;
  return `(${formatSeconds(w.lowerSeconds ?? 0)}, ${formatSeconds(w.upperSeconds)}]`;
}

function planWords(run: ProbeResult): string {
  // Rows saved by older versions may lack fields: read what is there.
  const o: Partial<ProbeResult['options']> = run.options ?? {};
  const parts =
    run.mode === 'search'
      ? [`search up to ${formatSeconds(o.maxIdleSeconds)} idle, at most ${o.budget ?? '?'} sessions each`]
      : [`${run.mode}, idle gaps ${(run.intervals ?? []).map((s) => formatSeconds(s)).join(', ')}`];
  if (o.holdStream) parts.push('holding a GET stream while idle');
  if (typeof o.keepaliveSeconds === 'number')
    parts.push(`keepalive test: a ping every ${formatSeconds(o.keepaliveSeconds)}`);
  if (typeof o.timeoutSeconds === 'number') parts.push(`${formatSeconds(o.timeoutSeconds)} per call`);
  return parts.join('; ');
}

/** What the window means for sweepers (docs/probe.md "search"). */
function sweepWords(sweep: SweepReading): string {
  if (sweep.detected)
    return (
      'a sweeper: T lies in the window, and sessions live up to T plus one sweep period (survived up to ' +
      `${formatSeconds(sweep.largestSurvivalSeconds)})`
    );
  if (sweep.lowerHoldsForPeriodUpToSeconds === null) return 'no sweeper seen';
  const any =
    sweep.anySweeperLowerSeconds === null
      ? ''
      : `; for any upstream sweeping once per timeout, T is above ${formatSeconds(sweep.anySweeperLowerSeconds)}`;
  return `no sweeper seen: the lower edge holds for a timer and for sweeps every ${formatSeconds(sweep.lowerHoldsForPeriodUpToSeconds)} or more often${any}`;
}

/** A search's progress: where it stands or why it stopped, its budget, and the window's steps. */
function SearchProgress(props: { s: SearchResultJson }) {
  const { s } = props;
  const all = s.steps ?? [];
  const steps = all.slice(-30);
  return (
    <section class="search" data-search-phase={s.phase}>
      <h3>Search</h3>
      <p>
        <strong>{s.stopReason ? STOP_WORDS[s.stopReason] : (PHASE_WORDS[s.phase] ?? s.phase)}</strong>
      </p>
      <ul class="facts">
        <li>
          window {windowWords(s.window ?? null)}
          {s.widthSeconds !== null &&
            `, ${formatSeconds(s.widthSeconds)} wide (narrow means ${formatSeconds(s.toleranceSeconds)} or less)`}
        </li>
        <li>
          {s.sessionsOpened} of {s.budget} sessions opened, {s.checks} checks: {s.survivals} alive,{' '}
          {s.expirations} expired, {s.failures} failed
        </li>
        <li>
          {s.narrowAfterSeconds === null
            ? 'not narrow yet'
            : `narrow after ${formatSeconds(s.narrowAfterSeconds)}`}
          {s.startedFrom && ` (started from the traffic's window ${windowWords(s.startedFrom)})`}
        </li>
        {s.sweep && <li data-sweep={s.sweep.detected ? 'detected' : 'not-seen'}>{sweepWords(s.sweep)}</li>}
      </ul>
      {steps.length > 0 && (
        <table class="steps">
          <caption>
            How the window narrowed
            {all.length > steps.length ? ` (the last ${steps.length} of ${all.length} steps)` : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col" class="num">
                At
              </th>
              <th scope="col">Window</th>
              <th scope="col">Phase</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((step) => (
              <tr>
                <td class="num">+{formatSeconds(step.t)}</td>
                <td>{windowWords(step)}</td>
                <td>{PHASE_WORDS[step.phase] ?? step.phase}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const MAX_CHECKPOINT_ROWS = 200;

/** Every checked session: the gap it idled, what came back. */
function SessionOutcomes(props: { checkpoints: readonly Checkpoint[] }) {
  if (props.checkpoints.length === 0) return <p class="muted">No session was checked after an idle gap.</p>;
  const rows = props.checkpoints.slice(0, MAX_CHECKPOINT_ROWS);
  const rounds = rows.some((c) => c.round !== null && c.round > 0);
  return (
    <table class="outcomes">
      <caption>
        Each session after its idle gap ({props.checkpoints.filter((c) => c.success).length} alive of{' '}
        {props.checkpoints.length}
        {props.checkpoints.length > rows.length ? `; the first ${rows.length} shown` : ''})
      </caption>
      <thead>
        <tr>
          <th scope="col" class="num">
            Idle gap
          </th>
          <th scope="col" class="num">
            Measured gap
          </th>
          <th scope="col">Outcome</th>
          <th scope="col" class="num">
            Latency
          </th>
          <th scope="col">HTTP</th>
          <th scope="col">GET stream</th>
          {rounds && <th scope="col">Round</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr
            class={c.success ? 'ok' : 'fail'}
            data-outcome={c.success ? 'alive' : (c.errorType ?? 'failed')}
          >
            <td class="num">{formatSeconds(c.idleSecondsTarget)}</td>
            <td class="num">{formatSeconds(c.elapsedSinceLastCallSeconds)}</td>
            <td>
              {outcomeWords(c)}
              {!c.success && c.errorMessage && <div class="muted">{c.errorMessage.slice(0, 200)}</div>}
            </td>
            <td class="num">{formatSeconds(c.latencySeconds)}</td>
            <td>{c.httpStatus ?? '—'}</td>
            <td>{c.streamAttached ? 'open' : 'none'}</td>
            {rounds && <td>{c.round === 0 ? 'fanout' : `narrowing ${c.round}`}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function UpstreamRun(props: { r: UpstreamProbeResult }) {
  const { r } = props;
  const window = r.search?.window ?? r.window;
  // A failed initialize has no latency to show: say it failed rather than print a number.
  const init =
    r.initLatencySeconds !== null
      ? formatSeconds(r.initLatencySeconds)
      : r.fatalError
        ? 'failed'
        : r.sessionIssued === false
          ? 'no session'
          : '—';
  return (
    <section class="upstream-run" data-upstream={r.upstream} aria-labelledby={`run-${r.upstream}`}>
      <h2 id={`run-${r.upstream}`}>
        <a href={useHref(`/upstreams/${encodeURIComponent(r.upstream)}`)}>{r.upstream}</a>
      </h2>
      {r.fatalError && (
        <p class="error" role="alert">
          {r.fatalError}
        </p>
      )}
      <div class="cards">
        <div class="card">
          <div class="label">Idle window</div>
          <div class="value" data-window>
            {r.stateless ? 'no sessions' : windowWords(window)}
          </div>
          <div class="note">
            {window?.overlapping
              ? 'survivals and expiries overlap (a sweeper)'
              : 'longest survived gap, shortest expired one'}
          </div>
        </div>
        <div class="card">
          <div class="label">Initialize</div>
          <div class="value">{init}</div>
          <div class="note">
            first call {formatSeconds(r.firstCallLatencySeconds)}
            {r.serverName ? `; ${r.serverName} ${r.serverVersion ?? ''}` : ''}
          </div>
        </div>
        <div class="card">
          <div class="label">Session ids</div>
          <div class="value">
            {r.validatesSessionIds === null
              ? 'not checked'
              : r.validatesSessionIds
                ? 'validated'
                : 'NOT validated'}
          </div>
          <div class="note">
            DELETE {r.deleteSupported === null ? 'not tried' : r.deleteSupported ? 'supported' : 'refused'}
          </div>
        </div>
      </div>
      {r.sessionless?.supported && (
        <p data-sessionless>
          {r.sessionModel === 'sessionless' ? 'Sessionless' : 'Also serves sessionless requests'} (MCP{' '}
          {r.sessionless.protocolVersion ?? '?'}): a call costs{' '}
          {formatSeconds(r.sessionless.callLatencySeconds)} with no session to open or keep.
        </p>
      )}
      {r.search && <SearchProgress s={r.search} />}
      <h3>Sessions</h3>
      <SessionOutcomes checkpoints={r.checkpoints ?? []} />
      {r.keepalive && (
        <p>
          Keepalive: a ping every {formatSeconds(r.keepalive.intervalSeconds)} for{' '}
          {formatSeconds(r.keepalive.idleSeconds)}{' '}
          {r.keepalive.keptAlive ? 'kept the session alive' : 'did not keep the session alive'} (
          {r.keepalive.pings} pings, {r.keepalive.pingFailures} failed).
        </p>
      )}
      {r.busySession && (
        <p>
          A busy session (a ping every {formatSeconds(r.busySession.pingIntervalSeconds)}){' '}
          {r.busySession.survived
            ? 'lived through the longest gap: an idle timeout, not a maximum age'
            : `ended at age ${formatSeconds(r.busySession.aliveToAgeSeconds)}: a maximum session age`}
          .
        </p>
      )}
      {(r.warnings ?? []).length > 0 && (
        <ul class="warnings">
          {r.warnings.map((w) => (
            <li>{w}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function ProbeRunPage(props: { run: ProbeResult; now: number }) {
  const { run } = props;
  const startedMs = Date.parse(run.startedAt);
  const json = useHref(`/api/probes/${encodeURIComponent(run.id)}`);
  return (
    <Page title={`Probe run ${run.id}`}>
      <p class="muted">
        <a href={useHref('/')}>All upstreams</a> /
      </p>
      <h1>Probe run</h1>
      <div id="run" data-live>
        <p class="lede">
          <code>{run.id}</code> · <span class={`pill ${run.status}`}>{run.status}</span> · started{' '}
          <time datetime={run.startedAt} title={run.startedAt}>
            {ago(Number.isFinite(startedMs) ? startedMs : null, props.now)}
          </time>
          , {run.status === 'running' ? 'running for' : 'took'} {formatSeconds(run.elapsedSeconds)} ·{' '}
          <a href={json} data-json>
            result JSON
          </a>
        </p>
        <p>{planWords(run)}</p>
        {run.status === 'running' && <p class="notice">Still running: this page follows it as it goes.</p>}
        {run.fatalError && (
          <p class="error" role="alert">
            {run.fatalError}
          </p>
        )}
        {(run.results ?? []).length === 0 ? (
          <p class="muted">No upstream has reported yet.</p>
        ) : (
          run.results.map((r) => <UpstreamRun r={r} />)
        )}
      </div>
    </Page>
  );
}

export function UnknownRunPage(props: { id: string }) {
  return (
    <Page title="Unknown probe run">
      <h1>Unknown probe run</h1>
      <p class="error">
        No probe run has the id <code>{props.id}</code>. Runs are listed on each upstream's page, from the{' '}
        <a href={useHref('/')}>overview</a>.
      </p>
    </Page>
  );
}
