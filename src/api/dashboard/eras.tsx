/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// The protocol eras on the dashboard (docs/eras.md): a short label for the overview and the
// per-era split with the migration view for the upstream page.
import type { EraView, LifetimeView, RecommendationView } from './model.js';
import { formatSeconds } from './scales.js';

const MODEL_LABELS: Record<string, string> = {
  sessions: 'sessions (2025)',
  sessionless: 'sessionless (2026)',
  both: 'both eras',
  unknown: 'era unknown',
};

/** `sessions (2025)`, `sessionless (2026)`, `both eras` or `era unknown`. */
export function sessionModelLabel(l: Pick<LifetimeView, 'sessionModel'>): string {
  return MODEL_LABELS[l.sessionModel ?? 'unknown'] ?? l.sessionModel ?? 'era unknown';
}

function Answer(props: { era: string; r: RecommendationView }) {
  const { strategy, poolIdleTtlSeconds } = props.r;
  return (
    <tr data-era={props.era}>
      <th scope="row">{props.era === '2025' ? '2025 (sessions)' : '2026 (sessionless)'}</th>
      <td>
        <span class={`pill ${strategy}`}>{strategy}</span>
        {strategy === 'pool' && poolIdleTtlSeconds !== null
          ? `, idle TTL ${formatSeconds(poolIdleTtlSeconds)}`
          : ''}
      </td>
      <td>{props.r.reason}</td>
    </tr>
  );
}

/** The upstream page's era section: model, versions, the answer per era, listen streams, callers. */
export function EraSplit(props: { lifetime: LifetimeView; era: EraView; now: number }) {
  const l = props.lifetime;
  const versions = l.protocolVersions ?? { answered: [], asked: [] };
  const listen = l.listen;
  const call = l.sessionless?.callLatencySeconds;
  const eras = props.era.eras;
  const callers = props.era.migration ?? [];
  return (
    <section aria-labelledby="eras">
      <h2 id="eras">Protocol eras</h2>
      <p>
        <strong>{sessionModelLabel(l)}</strong>; the upstream answered{' '}
        <span class="mono">{versions.answered.join(', ') || '—'}</span>, callers asked for{' '}
        <span class="mono">{versions.asked.join(', ') || '—'}</span>.
        {call && call.n > 0 ? ` A sessionless call costs ${formatSeconds(call.p50)} (p50 of ${call.n}).` : ''}
        {listen && listen.streams > 0
          ? ` ${listen.streams} listen stream${listen.streams === 1 ? '' : 's'}: ${listen.endedBy.client} closed by the client, ${listen.endedBy.server} by the server, ${listen.endedBy.error} broken; open up to ${formatSeconds(listen.openSeconds.max)}.`
          : ''}
      </p>
      {eras ? (
        <table>
          <caption>One answer per era</caption>
          <thead>
            <tr>
              <th scope="col">Era</th>
              <th scope="col">Strategy</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(eras).map(([era, e]) => (
              <Answer era={era} r={e.recommendation} />
            ))}
          </tbody>
        </table>
      ) : null}
      {callers.length > 0 ? (
        <table>
          <caption>Migration: which callers (hashed) speak which revision here</caption>
          <thead>
            <tr>
              <th scope="col">Caller</th>
              <th scope="col">Era</th>
              <th scope="col">Revision</th>
              <th scope="col" class="num">
                Calls
              </th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {callers.map((c) => (
              <tr>
                <td class="mono">{c.callerHash ?? '—'}</td>
                <td>{c.era ?? 'unknown'}</td>
                <td class="mono">{c.protocolVersion ?? '—'}</td>
                <td class="num">{c.exchanges}</td>
                <td>
                  <time datetime={c.lastSeenAt}>{c.lastSeenAt}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
