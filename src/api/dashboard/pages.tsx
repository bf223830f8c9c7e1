/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// The dashboard's pages as server-rendered JSX. Everything is readable without
// JavaScript; the only script (live.ts) turns the probe form into a live one.
import { PROBE_MODES, type ProbeMode } from '../../config/schema.js';
import {
  DEFAULT_INTERVALS_SECONDS,
  DEFAULT_PROBE_MODE,
  describeDuration,
  estimateProbeDuration,
} from '../../probe/defaults.js';
import { windowInterval } from '../../probe/format.js';
import { formatInterval } from '../../probe/intervals.js';
import type { SearchResultJson } from '../../probe/searchProbe.js';
import type { ProbeRunRow, StoredExchange } from '../../store/types.js';
import { InitLatencyHistogram, SessionTimeline, SurvivalChart } from './charts.js';
import { EraSplit, sessionModelLabel } from './eras.js';
import { Page } from './layout.js';
import { LIVE_PROBE_SCRIPT } from './live.js';
import type { LifetimeView, RecommendationView, UpstreamDetail, UpstreamSummary } from './model.js';
import { useHref } from './mount.js';
import { formatSeconds } from './scales.js';

export function ago(ms: number | null, now: number): string {
  if (ms === null) return '—';
  const seconds = Math.max(0, (now - ms) / 1000);
  return seconds < 1 ? 'just now' : `${formatSeconds(Math.round(seconds))} ago`;
}

function When(props: { ms: number | null; now: number }) {
  if (props.ms === null) return <span class="muted">—</span>;
  const iso = new Date(props.ms).toISOString();
  return (
    <time datetime={iso} title={iso}>
      {ago(props.ms, props.now)}
    </time>
  );
}

export function windowLabel(l: LifetimeView): string {
  if (l.lowerBoundSeconds === null && l.upperBoundSeconds === null) return 'not measured yet';
  if (l.upperBoundSeconds === null) return `> ${formatSeconds(l.lowerBoundSeconds)} (no expiry seen)`;
  return `(${formatSeconds(l.lowerBoundSeconds ?? 0)}, ${formatSeconds(l.upperBoundSeconds)}]`;
}

/** Credential lifetime under the session window: a 401 is a credential's end, not a session's. */
export function credentialLabel(l: LifetimeView): string | null {
  const c = l.credential;
  if (!c || (c.observations === 0 && c.announcedSeconds === null)) return null;
  const parts: string[] = [];
  if (c.observations > 0)
    parts.push(
      c.upperBoundSeconds === null
        ? `> ${formatSeconds(c.lowerBoundSeconds ?? 0)} (no 401 seen, ${c.observations} seen)`
        : `(${formatSeconds(c.lowerBoundSeconds ?? 0)}, ${formatSeconds(c.upperBoundSeconds)}] (${c.observations} seen)`,
    );
  if (c.announcedSeconds !== null) parts.push(`tokens announced for ${formatSeconds(c.announcedSeconds)}`);
  return `credential: ${parts.join('; ')}`;
}

function CredentialLine(props: { l: LifetimeView }) {
  const text = credentialLabel(props.l);
  return text ? (
    <div class="muted" data-credential>
      {text}
    </div>
  ) : null;
}

/** Enum values as words on screen; the API keeps the contract's labels. */
const BASIS_LABELS: Record<string, string> = {
  idle: 'idle time',
  age: 'session age',
  inconsistent: 'neither idle time nor age fits',
  none_observed: 'nothing observed yet',
};

export function basisLabel(basis: string): string {
  return BASIS_LABELS[basis] ?? basis.replaceAll('_', ' ');
}

/** Fewer idle-gap observations than this and the recommendation is a first guess. */
export const THIN_EVIDENCE = 10;

/** How much the recommendation rests on: observations, their sources, and whether that is thin. */
function Evidence(props: { l: LifetimeView }) {
  const { l } = props;
  const total = l.survivals + l.expirations;
  const sources = l.observations
    ? ` (${l.observations.proxy} from agent traffic, ${l.observations.probe} from probes)`
    : '';
  return (
    <>
      from {total} idle-gap observation{total === 1 ? '' : 's'}
      {sources}
      {total < THIN_EVIDENCE && (
        <div class="thin">Thin evidence: run a probe or wait for more traffic before relying on it.</div>
      )}
    </>
  );
}

function Strategy(props: { r: RecommendationView | null }) {
  if (!props.r) return <span class="muted">needs analysis</span>;
  const { strategy, poolIdleTtlSeconds } = props.r;
  return (
    <span class={`pill ${strategy}`}>
      {strategy}
      {strategy === 'pool' && poolIdleTtlSeconds !== null
        ? `, idle TTL ${formatSeconds(poolIdleTtlSeconds)}`
        : ''}
    </span>
  );
}

function ProbeStatus(props: { run: ProbeRunRow | null; now: number }) {
  if (!props.run) return <span class="muted">never</span>;
  return (
    <>
      <span class={`pill ${props.run.status}`}>{props.run.status}</span>{' '}
      <When ms={props.run.startedAt} now={props.now} />
    </>
  );
}

export function OverviewPage(props: { upstreams: UpstreamSummary[]; now: number }) {
  const { now } = props;
  return (
    <Page title="Overview">
      <h1>Upstream MCP sessions</h1>
      <p class="lede">
        How long each upstream keeps an idle session, what a new session costs, and which session strategy to
        use. Open an upstream for its survival chart, sessions, expirations and probes.
      </p>
      {props.upstreams.length === 0 ? (
        <p class="notice">No upstreams configured. Add some to the config file, or run with --demo.</p>
      ) : (
        <table id="overview-table" data-live>
          <caption>Every configured upstream, from passive traffic and probes</caption>
          <thead>
            <tr>
              <th scope="col">Upstream</th>
              <th scope="col">Idle lifetime window</th>
              <th scope="col">Basis</th>
              <th scope="col" class="num">
                Init p50 / p90
              </th>
              <th scope="col">Recommendation</th>
              <th scope="col">Last probe</th>
              <th scope="col" class="num">
                Expirations (24 h)
              </th>
            </tr>
          </thead>
          <tbody>
            {props.upstreams.map((s) => (
              <tr data-upstream={s.upstream.id}>
                <th scope="row">
                  <a href={useHref(`/upstreams/${encodeURIComponent(s.upstream.id)}`)}>{s.upstream.name}</a>
                  <div class="muted mono">
                    {s.upstream.id} · {s.upstream.transport}
                    {s.upstream.stateless ? ' · stateless' : ''}
                  </div>
                  <div class="muted" data-era={s.lifetime.sessionModel ?? 'unknown'}>
                    {sessionModelLabel(s.lifetime)}
                  </div>
                </th>
                <td>
                  {s.upstream.stateless || s.lifetime.sessionModel === 'sessionless'
                    ? 'no sessions (sessionless)'
                    : windowLabel(s.lifetime)}
                  <CredentialLine l={s.lifetime} />
                </td>
                <td>
                  {basisLabel(s.lifetime.basis)}
                  <div class="muted">
                    {s.lifetime.survivals} ok · {s.lifetime.expirations} expired
                  </div>
                </td>
                <td class="num">
                  {formatSeconds(s.lifetime.initLatencySeconds.p50)} /{' '}
                  {formatSeconds(s.lifetime.initLatencySeconds.p90)}
                  <div class="muted">n = {s.lifetime.initLatencySeconds.n}</div>
                </td>
                <td>
                  <Strategy r={s.recommendation} />
                  <div class="muted">
                    <Evidence l={s.lifetime} />
                  </div>
                </td>
                <td>
                  <ProbeStatus run={s.lastProbe} now={now} />
                </td>
                <td class="num">{s.expirationsLast24h}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

function Legend() {
  return (
    <ul class="legend" aria-label="Chart legend">
      <li>
        <svg width="12" height="12" aria-hidden="true">
          <circle cx="6" cy="6" r="4" fill="#1a7f37" fill-opacity=".75" />
        </svg>{' '}
        survived (agent traffic)
      </li>
      <li>
        <svg width="12" height="12" aria-hidden="true">
          <circle cx="6" cy="6" r="4" fill="#fff" stroke="#1a7f37" stroke-width="1.5" />
        </svg>{' '}
        survived (probe)
      </li>
      <li>
        <svg width="12" height="12" aria-hidden="true">
          <path d="M2,2L10,10M2,10L10,2" stroke="#cf222e" stroke-width="2.2" />
        </svg>{' '}
        expired
      </li>
      <li>
        <svg width="16" height="12" aria-hidden="true">
          <rect width="16" height="12" fill="#0969da" fill-opacity=".13" />
        </svg>{' '}
        lifetime window (lower, upper]
      </li>
    </ul>
  );
}

function StrategyTable(props: { r: RecommendationView | null }) {
  const rows = props.r?.strategies ?? [];
  if (rows.length === 0) return null;
  return (
    <table class="strategies">
      <caption>Each strategy replayed on the recorded calls (per 100 calls)</caption>
      <thead>
        <tr>
          <th scope="col">Strategy</th>
          <th scope="col" class="num">
            Idle TTL
          </th>
          <th scope="col" class="num">
            Sessions opened
          </th>
          <th scope="col" class="num">
            Init seconds / 100 calls
          </th>
          <th scope="col" class="num">
            Stale-session failures / 100 calls
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((o) => (
          <tr class={o.strategy === props.r?.strategy ? 'chosen' : undefined}>
            <th scope="row">
              {o.strategy}
              {o.strategy === props.r?.strategy ? ' (recommended)' : ''}
              {o.keepaliveIntervalSeconds !== null
                ? ` + ping every ${formatSeconds(o.keepaliveIntervalSeconds)}`
                : ''}
            </th>
            <td class="num">{formatSeconds(o.idleTtlSeconds)}</td>
            <td class="num">
              {o.sessions} / {o.calls} calls
            </td>
            <td class="num">{o.expectedInitSecondsPer100Calls.toFixed(1)}</td>
            <td class="num">
              {o.expectedStaleFailuresPer100Calls === null
                ? 'unknown'
                : o.expectedStaleFailuresPer100Calls.toFixed(1)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** How a session error was recognised, in words. */
const CONFIDENCE_WORDS: Record<string, string> = {
  spec: 'per the spec',
  heuristic: 'read from the error text',
};

function ExpirationsTable(props: { rows: Array<StoredExchange & { cause: string | null }>; now: number }) {
  if (props.rows.length === 0) return <p class="muted">No session has expired yet.</p>;
  return (
    <table>
      <caption>The {props.rows.length} most recent expiries, newest first</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Session</th>
          <th scope="col" class="num">
            Idle gap
          </th>
          <th scope="col" class="num">
            Age
          </th>
          <th scope="col" class="num">
            Exchanges before
          </th>
          <th scope="col">Request</th>
          <th scope="col">Answer</th>
          <th scope="col">GET stream</th>
          <th scope="col">Source</th>
          <th scope="col">Verdict</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((e) => (
          <tr>
            <td>
              <When ms={e.startedAt} now={props.now} />
            </td>
            <td class="mono">{e.sessionHash?.slice(0, 8) ?? '—'}</td>
            <td class="num">{formatSeconds(e.idleGapMs === null ? null : e.idleGapMs / 1000)}</td>
            <td class="num">{formatSeconds(e.sessionAgeMs === null ? null : e.sessionAgeMs / 1000)}</td>
            <td class="num">{e.exchangesBefore ?? '—'}</td>
            <td class="mono">{e.rpcMethod ?? e.httpMethod}</td>
            <td>
              {e.httpStatus ?? '—'}{' '}
              <span class="muted">({CONFIDENCE_WORDS[e.confidence ?? ''] ?? 'n/a'})</span>
            </td>
            <td>{e.streamAttached ? 'open' : 'none'}</td>
            <td>{e.source === 'proxy' ? 'agent traffic' : e.source}</td>
            <td>
              {e.cause ? `session lost (${e.cause.replace('_', ' ')}), not in the window` : 'idle expiry'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Probe results are stored as the docs/contract.md JSON; read the few fields shown defensively. */
function probeSummary(run: ProbeRunRow): string {
  const result = run.result as {
    results?: Array<{ checkpoints?: Array<{ success?: boolean }>; search?: SearchResultJson | null }>;
  } | null;
  // A search says where it put the timeout rather than how many checks survived.
  const searches = (result?.results ?? []).flatMap((r) => (r.search ? [r.search] : []));
  if (searches.length > 0)
    return searches
      .map(
        (s) =>
          `window ${windowInterval(s.window.lowerSeconds, s.window.upperSeconds)}, ${s.stopReason ?? s.phase}`,
      )
      .join('; ');
  const checkpoints = (result?.results ?? []).flatMap((r) => r.checkpoints ?? []);
  if (checkpoints.length === 0) return '—';
  const ok = checkpoints.filter((c) => c.success).length;
  return `${ok} of ${checkpoints.length} checkpoints alive`;
}

function ProbeRunsTable(props: { runs: ProbeRunRow[]; now: number }) {
  if (props.runs.length === 0) return <p class="muted">No probe has run against this upstream yet.</p>;
  return (
    <table>
      <caption>Probe runs, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Run</th>
          <th scope="col">Mode</th>
          <th scope="col">Status</th>
          <th scope="col">Result</th>
        </tr>
      </thead>
      <tbody>
        {props.runs.map((run) => (
          <tr>
            <td>
              <When ms={run.startedAt} now={props.now} />
            </td>
            <td class="mono">
              <a href={useHref(`/probes/${encodeURIComponent(run.id)}`)}>{run.id}</a>{' '}
              <a class="muted" href={useHref(`/api/probes/${encodeURIComponent(run.id)}`)}>
                JSON
              </a>
            </td>
            <td>{run.mode}</td>
            <td>
              <span class={`pill ${run.status}`}>{run.status}</span>
            </td>
            <td>{probeSummary(run)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What each mode does, in the words the select shows. */
const MODE_LABELS: Partial<Record<ProbeMode, string>> = {
  search: 'search: find the idle timeout (no gaps needed)',
  fanout: 'fanout: one session per gap, all at once',
  ladder: 'ladder: one session, checkpoints at growing gaps',
  bisect: 'bisect: fanout, then narrow the window',
};

function ProbeForm(props: { upstream: string; startedProbe: string | null }) {
  return (
    <section aria-labelledby="probe-heading">
      <h3 id="probe-heading">Run a probe</h3>
      <p class="muted">
        Read-only: opens sessions and calls only initialize, tools/list and ping after each idle gap.
      </p>
      <form
        class="probe"
        method="post"
        action={useHref('/probes')}
        data-live-probe
        data-output="probe-progress"
      >
        <input type="hidden" name="upstream" value={props.upstream} />
        <label>
          Mode
          <select name="mode">
            {PROBE_MODES.map((m) => (
              <option value={m} selected={m === DEFAULT_PROBE_MODE}>
                {MODE_LABELS[m] ?? m}
              </option>
            ))}
          </select>
        </label>
        <label>
          Idle gaps
          <input
            name="intervals"
            placeholder={DEFAULT_INTERVALS_SECONDS.map(formatInterval).join(', ')}
            aria-describedby="intervals-help"
          />
        </label>
        <button type="submit">Start probe</button>
        <button type="button" class="secondary" data-cancel hidden>
          Cancel probe
        </button>
        <span id="intervals-help" class="muted">
          Seconds or durations, comma-separated (5, 30s, 10m, 6h), for ladder, fanout and bisect; search needs
          none (it finds the timeout itself).
        </span>
        <output class="estimate" data-estimate aria-live="polite">
          Takes {describeDuration(estimateProbeDuration({}))} with these settings.
        </output>
      </form>
      <div id="probe-progress" class="progress" role="status" aria-live="polite">
        {props.startedProbe && (
          <>
            Probe{' '}
            <a href={useHref(`/probes/${encodeURIComponent(props.startedProbe)}`)}>
              <code>{props.startedProbe}</code>
            </a>{' '}
            started; reload this page to see its result.
          </>
        )}
      </div>
    </section>
  );
}

/** What to paste into a client so it goes through the proxy (the URL as the browser reached it). */
function ClientConfig(props: { id: string; proxyUrl: string }) {
  const { id, proxyUrl } = props;
  const snippets: Array<[string, string]> = [
    ['Claude Code', `claude mcp add --transport http ${id} ${proxyUrl}`],
    ['Cursor (.cursor/mcp.json)', JSON.stringify({ mcpServers: { [id]: { url: proxyUrl } } }, null, 2)],
    [
      'VS Code (.vscode/mcp.json)',
      JSON.stringify({ servers: { [id]: { type: 'http', url: proxyUrl } } }, null, 2),
    ],
  ];
  return (
    <details class="client-config">
      <summary>Connect an agent through the proxy</summary>
      <p class="muted">
        Keep the agent's own auth headers; only the URL changes. Proxy URL: <code>{proxyUrl}</code>
      </p>
      {snippets.map(([label, text]) => (
        <>
          <div class="label">{label}</div>
          <pre class="snippet" data-client={label}>
            {text}
          </pre>
        </>
      ))}
    </details>
  );
}

export function UpstreamPage(props: {
  detail: UpstreamDetail;
  startedProbe: string | null;
  origin?: string;
}) {
  const d = props.detail;
  const u = d.upstream;
  const l = d.lifetime;
  return (
    <Page title={u.name} script={LIVE_PROBE_SCRIPT}>
      <p class="muted">
        <a href={useHref('/')}>All upstreams</a> /
      </p>
      <h1>{u.name}</h1>
      <p class="lede mono">
        {u.id} · {u.transport} · {u.url}
      </p>
      <ClientConfig id={u.id} proxyUrl={`${props.origin ?? ''}${useHref(`/mcp/${u.id}`)}`} />
      <div class="cards" id="cards" data-live>
        <div class="card">
          <div class="label">Idle lifetime window</div>
          <div class="value">{u.stateless ? 'stateless' : windowLabel(l)}</div>
          <div class="note">
            explained by {basisLabel(l.basis)}; {l.survivals} survived, {l.expirations} expired
          </div>
        </div>
        <div class="card">
          <div class="label">New session (initialize)</div>
          <div class="value">{formatSeconds(l.initLatencySeconds.p50)}</div>
          <div class="note">
            p90 {formatSeconds(l.initLatencySeconds.p90)}, n = {l.initLatencySeconds.n}
          </div>
        </div>
        <div class="card">
          <div class="label">Recommendation</div>
          <div class="value">
            <Strategy r={d.recommendation} />
          </div>
          <div class="note">
            {d.recommendation?.reason ?? 'The analysis has not produced a recommendation yet.'}
          </div>
          <div class="note">
            <Evidence l={l} />
          </div>
        </div>
        <div class="card">
          <div class="label">Expirations, last 24 h</div>
          <div class="value">{d.expirationsLast24h}</div>
          <div class="note">
            {d.healedLast24h > 0 ? `${d.healedLast24h} healed (heal mode: the agent never saw them); ` : ''}
            validates session ids:{' '}
            {l.validatesSessionIds === null
              ? 'not probed'
              : l.validatesSessionIds
                ? 'yes'
                : 'no (survivals prove nothing)'}
          </div>
        </div>
      </div>

      <EraSplit lifetime={l} era={d.era} now={d.now} />

      <h2 id="survival">Survival by idle gap</h2>
      <figure id="survival-figure" data-live>
        <SurvivalChart id={u.id} points={d.points} lifetime={l} />
        <figcaption>
          <Legend />
        </figcaption>
      </figure>

      <div id="strategies" data-live>
        <StrategyTable r={d.recommendation} />
      </div>

      <div class="grid2">
        <section aria-labelledby="init-heading">
          <h2 id="init-heading">Initialize latency</h2>
          <div id="init-histogram" data-live>
            <InitLatencyHistogram id={u.id} latenciesSeconds={d.initLatenciesSeconds} />
          </div>
        </section>
        <section aria-labelledby="probes">
          <h2 id="probes">Probes</h2>
          <ProbeForm upstream={u.id} startedProbe={props.startedProbe} />
        </section>
      </div>

      <h2 id="sessions">Recent sessions</h2>
      <div id="session-timeline" data-live>
        <SessionTimeline id={u.id} sessions={d.sessions} expirations={d.expirations} now={d.now} />
      </div>

      <h2 id="expirations">Expirations</h2>
      <div id="expirations-table" data-live>
        <ExpirationsTable rows={d.expirations} now={d.now} />
      </div>

      <h2 id="probe-runs">Probe runs</h2>
      <div id="probe-runs-table" data-live>
        <ProbeRunsTable runs={d.probeRuns} now={d.now} />
      </div>
    </Page>
  );
}

export function LoginPage(props: { next: string; failed: boolean }) {
  return (
    <Page title="Sign in">
      <h1>Sign in</h1>
      <p class="lede">This dashboard is protected by the admin token (admin.token in the config).</p>
      {props.failed && (
        <p class="error" role="alert">
          That token is not the admin token. Check admin.token or MCP_PROBE_ADMIN_TOKEN.
        </p>
      )}
      <form class="probe" method="post" action={useHref('/login')}>
        <input type="hidden" name="next" value={props.next} />
        <label>
          Admin token
          <input name="token" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </Page>
  );
}

export function NotFoundPage(props: { id: string }) {
  return (
    <Page title="Unknown upstream">
      <h1>Unknown upstream</h1>
      <p class="error">
        No upstream has the id <code>{props.id}</code>. Configured upstreams are listed on the{' '}
        <a href={useHref('/')}>overview</a>.
      </p>
    </Page>
  );
}
