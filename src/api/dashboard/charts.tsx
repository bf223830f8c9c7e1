/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// Inline SVG charts, rendered on the server. Each chart carries a <title> and a <desc>
// that say in words what it shows, so a screen reader (or a text browser) gets the point.
// Survival and expiry differ by shape (circle / cross), not only by colour.
import type { StoredExchange, StoredSession } from '../../store/types.js';
import type { GapPoint, LifetimeView } from './model.js';
import {
  formatSeconds,
  histogram,
  idleGapDomain,
  jitter,
  labelAnchor,
  linearScale,
  logScale,
  logTicks,
  niceTicks,
  percentile,
  timeTicks,
  unitLabel,
} from './scales.js';

const MAX_POINTS = 3000;
/** Room the window's label needs ("(1.5 min, 2.5 min]" at 11 px). */
const WINDOW_LABEL_WIDTH = 110;

type Window = { lowerBoundSeconds: number | null; upperBoundSeconds: number | null };

function windowText(w: Window | undefined): string {
  if (!w || (w.lowerBoundSeconds === null && w.upperBoundSeconds === null)) return 'no window yet';
  if (w.upperBoundSeconds === null)
    return `survived ${formatSeconds(w.lowerBoundSeconds)} idle, no expiry above it`;
  return `expire after an idle time in (${formatSeconds(w.lowerBoundSeconds ?? 0)}, ${formatSeconds(w.upperBoundSeconds)}]`;
}

export function SurvivalChart(props: { id: string; points: readonly GapPoint[]; lifetime: LifetimeView }) {
  const points = props.points.slice(-MAX_POINTS);
  const width = 760;
  const height = 250;
  // The right margin holds half of the last decade's label ("100,000 s"), so it can stay centred.
  const margin = { left: 176, right: 36, top: 14, bottom: 44 };
  const bandHeight = (height - margin.top - margin.bottom) / 2;
  // Shade the idle-gap window even when the age explanation fits better: this axis is idle gap.
  const noStreamWindow: Window = props.lifetime.windows?.idle ?? props.lifetime;
  const streamWindow: Window | undefined = props.lifetime.withStream;
  const bounds = [noStreamWindow, streamWindow].flatMap((w) => [
    w?.lowerBoundSeconds ?? 0,
    w?.upperBoundSeconds ?? 0,
  ]);
  const domain = idleGapDomain([...points.map((p) => p.gapSeconds), ...bounds]);
  const x = logScale(domain, [margin.left, width - margin.right]);
  const ticks = logTicks(domain);
  const bands = [
    { attached: false, label: 'no GET stream', y: margin.top, window: noStreamWindow },
    { attached: true, label: 'GET stream open', y: margin.top + bandHeight, window: streamWindow },
  ];
  const count = (attached: boolean, expired: boolean) =>
    points.filter((p) => p.streamAttached === attached && p.expired === expired).length;
  const titleId = `survival-title-${props.id}`;
  const descId = `survival-desc-${props.id}`;
  return (
    <svg
      class="chart survival-chart"
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-labelledby={`${titleId} ${descId}`}
      data-points={points.length}
    >
      <title id={titleId}>Session survival by idle gap for {props.id}</title>
      <desc id={descId}>
        Idle gap before each request on a known session, on a logarithmic axis. Without a GET stream:{' '}
        {count(false, false)} survived, {count(false, true)} expired. With a GET stream open:{' '}
        {count(true, false)} survived, {count(true, true)} expired. Without a stream sessions{' '}
        {windowText(noStreamWindow)}; with a stream they {windowText(streamWindow)}.
      </desc>
      <defs>
        <pattern
          id="open-window"
          width="8"
          height="8"
          patternUnits="userSpaceOnUse"
          patternTransform="rotate(45)"
        >
          <rect width="8" height="8" fill="#0969da" fill-opacity="0.05" />
          <line x1="0" y1="0" x2="0" y2="8" stroke="#0969da" stroke-opacity="0.25" stroke-width="3" />
        </pattern>
      </defs>
      {ticks.map((t) => (
        <g>
          <line
            x1={x(t.value)}
            x2={x(t.value)}
            y1={margin.top}
            y2={height - margin.bottom}
            class={t.major ? 'grid major' : 'grid'}
          />
          {t.major && (
            <text
              x={x(t.value)}
              y={height - margin.bottom + 16}
              text-anchor={labelAnchor(x(t.value), [0, width])}
              class="tick x"
            >
              {t.label}
            </text>
          )}
        </g>
      ))}
      <text
        x={(margin.left + width - margin.right) / 2}
        y={height - 6}
        text-anchor="middle"
        class="axis-label"
      >
        idle gap before the request, seconds (log scale)
      </text>
      {bands.map((band) => {
        const surviveY = band.y + bandHeight * 0.32;
        const expireY = band.y + bandHeight * 0.7;
        const inBand = points.filter((p) => p.streamAttached === band.attached);
        const lo = band.window?.lowerBoundSeconds ?? null;
        const hi = band.window?.upperBoundSeconds ?? null;
        const from = x(lo ?? domain[0]);
        const to = x(hi ?? domain[1]);
        return (
          <g class={band.attached ? 'band stream' : 'band no-stream'}>
            {(lo !== null || hi !== null) && (
              <g class="window" data-lower={lo ?? ''} data-upper={hi ?? ''}>
                <rect
                  x={from}
                  y={band.y + 1}
                  width={Math.max(2, to - from)}
                  height={bandHeight - 1}
                  fill={hi === null ? 'url(#open-window)' : '#0969da'}
                  fill-opacity={hi === null ? 1 : 0.13}
                >
                  <title>{windowText(band.window)}</title>
                </rect>
                {/* Near the right edge the label ends at the window's right side instead. */}
                <text
                  x={
                    from > width - margin.right - WINDOW_LABEL_WIDTH
                      ? Math.min(to, width - margin.right) - 4
                      : from + 4
                  }
                  y={band.y + 12}
                  text-anchor={from > width - margin.right - WINDOW_LABEL_WIDTH ? 'end' : 'start'}
                  class="window-label"
                >
                  {hi === null ? 'no expiry seen' : `(${formatSeconds(lo ?? 0)}, ${formatSeconds(hi)}]`}
                </text>
              </g>
            )}
            <line x1={margin.left} x2={width - margin.right} y1={band.y} y2={band.y} class="band-edge" />
            <text x={8} y={band.y + bandHeight / 2 - 4} class="band-label">
              {band.label}
            </text>
            <text x={8} y={band.y + bandHeight / 2 + 12} class="band-count">
              {count(band.attached, false)} ok · {count(band.attached, true)} expired
            </text>
            <text x={margin.left - 6} y={surviveY + 4} text-anchor="end" class="row-label">
              alive
            </text>
            <text x={margin.left - 6} y={expireY + 4} text-anchor="end" class="row-label">
              expired
            </text>
            {inBand.map((p, i) => {
              const cx = x(p.gapSeconds);
              const cy = (p.expired ? expireY : surviveY) + jitter(i) * bandHeight * 0.12;
              const label = `${p.expired ? 'expired' : 'survived'} after ${formatSeconds(p.gapSeconds)} idle (${p.source}${
                p.streamAttached ? ', GET stream open' : ''
              })`;
              return p.expired ? (
                <path
                  d={`M${cx - 4},${cy - 4}L${cx + 4},${cy + 4}M${cx - 4},${cy + 4}L${cx + 4},${cy - 4}`}
                  class="pt expired"
                >
                  <title>{label}</title>
                </path>
              ) : (
                <circle
                  cx={cx}
                  cy={cy}
                  r={4}
                  class={p.source === 'probe' ? 'pt survived probe' : 'pt survived'}
                >
                  <title>{label}</title>
                </circle>
              );
            })}
            {inBand.length === 0 && (
              <text
                x={(margin.left + width) / 2}
                y={band.y + bandHeight / 2 + 4}
                text-anchor="middle"
                class="empty"
              >
                no observations
              </text>
            )}
          </g>
        );
      })}
      <line
        x1={margin.left}
        x2={width - margin.right}
        y1={height - margin.bottom}
        y2={height - margin.bottom}
        class="axis"
      />
    </svg>
  );
}

export function InitLatencyHistogram(props: { id: string; latenciesSeconds: readonly number[] }) {
  const width = 500;
  const height = 220;
  const margin = { left: 40, right: 28, top: 14, bottom: 42 };
  const bins = histogram(props.latenciesSeconds, 10);
  const titleId = `init-title-${props.id}`;
  const descId = `init-desc-${props.id}`;
  const p50 = percentile(props.latenciesSeconds, 50);
  const p90 = percentile(props.latenciesSeconds, 90);
  const titleText = `Initialize latency for ${props.id}`;
  const descText =
    bins.length === 0
      ? 'No session has been initialized yet.'
      : `${props.latenciesSeconds.length} initialize round trips; median ${formatSeconds(p50)}, 90th percentile ${formatSeconds(p90)}.`;
  if (bins.length === 0) {
    return (
      <svg class="chart" viewBox={`0 0 ${width} 60`} role="img" aria-labelledby={`${titleId} ${descId}`}>
        <title id={titleId}>{titleText}</title>
        <desc id={descId}>{descText}</desc>
        <text x={width / 2} y={34} text-anchor="middle" class="empty">
          no initialize observed yet
        </text>
      </svg>
    );
  }
  const first = bins[0]!;
  const last = bins[bins.length - 1]!;
  const x = linearScale([first.from, last.to], [margin.left, width - margin.right]);
  const maxCount = Math.max(...bins.map((b) => b.count));
  const y = linearScale([0, maxCount], [height - margin.bottom, margin.top]);
  const yTicks = niceTicks([0, maxCount], Math.min(4, maxCount)).filter((t) => Number.isInteger(t));
  const { unit: xUnit, ticks: xTicks } = timeTicks([first.from, last.to], 5);
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={`${titleId} ${descId}`}>
      <title id={titleId}>{titleText}</title>
      <desc id={descId}>{descText}</desc>
      {yTicks.map((t) => (
        <g>
          <line x1={margin.left} x2={width - margin.right} y1={y(t)} y2={y(t)} class="grid" />
          <text x={margin.left - 6} y={y(t) + 4} text-anchor="end" class="tick y">
            {t}
          </text>
        </g>
      ))}
      {bins.map((b) => (
        <rect
          x={x(b.from) + 1}
          y={y(b.count)}
          width={Math.max(1, x(b.to) - x(b.from) - 2)}
          height={height - margin.bottom - y(b.count)}
          class="bar"
        >
          <title>
            {b.count} between {formatSeconds(b.from)} and {formatSeconds(b.to)}
          </title>
        </rect>
      ))}
      {[
        { v: p50, name: 'p50' },
        { v: p90, name: 'p90' },
      ].map(({ v, name }, i) =>
        v === null ? null : (
          <g class="marker">
            <line x1={x(v)} x2={x(v)} y1={margin.top} y2={height - margin.bottom} class="pline" />
            <text
              x={x(v) > width / 2 ? x(v) - 4 : x(v) + 4}
              y={margin.top + 10 + i * 13}
              text-anchor={x(v) > width / 2 ? 'end' : 'start'}
              class="tick"
            >
              {name} {formatSeconds(v)}
            </text>
          </g>
        ),
      )}
      <line
        x1={margin.left}
        x2={width - margin.right}
        y1={height - margin.bottom}
        y2={height - margin.bottom}
        class="axis"
      />
      {xTicks.map((t) => (
        <text
          x={x(t)}
          y={height - margin.bottom + 16}
          text-anchor={labelAnchor(x(t), [0, width])}
          class="tick x"
        >
          {unitLabel(t, xUnit)}
        </text>
      ))}
      <text x={(margin.left + width) / 2} y={height - 6} text-anchor="middle" class="axis-label">
        initialize round trip
      </text>
    </svg>
  );
}

const TIMELINE_ROWS = 24;

export function SessionTimeline(props: {
  id: string;
  sessions: readonly StoredSession[];
  expirations: readonly StoredExchange[];
  now: number;
}) {
  const sessions = props.sessions.slice(0, TIMELINE_ROWS);
  const width = 760;
  const rowHeight = 16;
  const margin = { left: 176, right: 20, top: 10, bottom: 40 };
  const height = margin.top + margin.bottom + Math.max(1, sessions.length) * rowHeight;
  const titleId = `timeline-title-${props.id}`;
  const descId = `timeline-desc-${props.id}`;
  const expiredCount = sessions.filter((s) => s.endReason === 'expired').length;
  const titleText = `Recent sessions of ${props.id}`;
  const descText =
    sessions.length === 0
      ? 'No sessions recorded yet.'
      : `The ${sessions.length} most recent sessions from open to last activity; ${expiredCount} ended by expiry, marked with a cross.`;
  if (sessions.length === 0) {
    return (
      <svg class="chart" viewBox={`0 0 ${width} 60`} role="img" aria-labelledby={`${titleId} ${descId}`}>
        <title id={titleId}>{titleText}</title>
        <desc id={descId}>{descText}</desc>
        <text x={width / 2} y={34} text-anchor="middle" class="empty">
          no sessions yet
        </text>
      </svg>
    );
  }
  const start = Math.min(...sessions.map((s) => s.openedAt));
  const spanSeconds = Math.max(1, (props.now - start) / 1000);
  // Axis in seconds before now, so the page needs no time zone.
  const x = linearScale([-spanSeconds, 0], [margin.left, width - margin.right]);
  const at = (ms: number) => x((ms - props.now) / 1000);
  const { unit, ticks } = timeTicks([-spanSeconds, 0], 6);
  const expiriesBySession = new Map<string, StoredExchange[]>();
  for (const e of props.expirations) {
    if (!e.sessionHash) continue;
    expiriesBySession.set(e.sessionHash, [...(expiriesBySession.get(e.sessionHash) ?? []), e]);
  }
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={`${titleId} ${descId}`}>
      <title id={titleId}>{titleText}</title>
      <desc id={descId}>{descText}</desc>
      {ticks.map((t) => (
        <g>
          <line x1={x(t)} x2={x(t)} y1={margin.top} y2={height - margin.bottom} class="grid" />
          <text
            x={x(t)}
            y={height - margin.bottom + 16}
            text-anchor={labelAnchor(x(t), [0, width])}
            class="tick x"
          >
            {t === 0 ? 'now' : `−${unitLabel(-t, unit)}`}
          </text>
        </g>
      ))}
      {sessions.map((s, i) => {
        const y = margin.top + i * rowHeight + rowHeight / 2;
        const end = s.endedAt ?? s.lastActivityAt;
        const state = s.endReason ?? 'open';
        return (
          <g class={`session ${state}`}>
            <text x={margin.left - 6} y={y + 4} text-anchor="end" class="row-label mono">
              {s.sessionHash.slice(0, 8)}
            </text>
            <rect
              x={at(s.openedAt)}
              y={y - 4}
              width={Math.max(2, at(end) - at(s.openedAt))}
              height={8}
              rx={2}
              class="span"
            >
              <title>
                session {s.sessionHash} ({s.source === 'proxy' ? 'agent traffic' : s.source}): {s.exchanges}{' '}
                exchanges, {state.replaceAll('_', ' ')}
              </title>
            </rect>
            {s.endedAt === null && <line x1={at(end)} x2={at(props.now)} y1={y} y2={y} class="idle-tail" />}
            {(expiriesBySession.get(s.sessionHash) ?? []).map((e) => {
              const cx = at(e.startedAt);
              return (
                <path
                  d={`M${cx - 4},${y - 4}L${cx + 4},${y + 4}M${cx - 4},${y + 4}L${cx + 4},${y - 4}`}
                  class="pt expired"
                >
                  <title>expired after {formatSeconds((e.idleGapMs ?? 0) / 1000)} idle</title>
                </path>
              );
            })}
          </g>
        );
      })}
      <text x={(margin.left + width) / 2} y={height - 6} text-anchor="middle" class="axis-label">
        time before now
      </text>
    </svg>
  );
}
