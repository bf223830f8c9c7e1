/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// The page shell: one inline stylesheet (no build step, no external requests) that
// keeps contrast at WCAG AA and makes keyboard focus visible.

import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { useHref, useMount } from './mount.js';

const STYLE = `
:root { color-scheme: light; --fg: #1f2328; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa;
  --accent: #0969da; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline: 3px solid var(--accent); outline-offset: 2px; }
header.top { background: #24292f; color: #fff; padding: 10px 24px; display: flex; gap: 16px; align-items: baseline; }
header.top a { color: #fff; text-decoration: none; font-weight: 600; }
header.top nav a { font-weight: 400; margin-right: 12px; }
header.top .tag { color: #d0d7de; font-size: 13px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; color: var(--accent); padding: 4px 8px; z-index: 1; }
main { max-width: 1120px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 24px; margin: 12px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.lede { color: var(--muted); margin: 0 0 12px; }
.muted { color: var(--muted); }
.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; color: var(--muted); padding: 4px 0; font-size: 13px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
tr.chosen th, tr.chosen td { background: #dafbe1; }
table.strategies { margin-top: 16px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; background: #fff; }
.card .label { color: var(--muted); font-size: 13px; }
.card .value { font-size: 20px; font-weight: 600; }
.card .note { color: var(--muted); font-size: 13px; }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 13px; border: 1px solid var(--line); background: var(--bg); }
.pill.pool { border-color: #1a7f37; color: #116329; background: #dafbe1; }
.pill.per-turn { border-color: #9a6700; color: #7d4e00; background: #fff8c5; }
.pill.per-call { border-color: #cf222e; color: #a40e26; background: #ffebe9; }
.pill.done { color: #116329; } .pill.failed { color: #a40e26; } .pill.running { color: #0550ae; }
.grid2 { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 20px; align-items: start; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
figure { margin: 0; } figcaption { color: var(--muted); font-size: 13px; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; }
svg .grid { stroke: #eaeef2; } svg .grid.major { stroke: #d0d7de; }
svg .axis, svg .band-edge { stroke: #8c959f; }
svg .tick, svg .row-label, svg .band-count { fill: var(--muted); }
svg .band-label { fill: var(--fg); font-weight: 600; }
svg .axis-label { fill: var(--muted); font-size: 12px; }
svg .window-label { fill: #0550ae; font-size: 11px; }
svg .empty { fill: var(--muted); font-style: italic; }
svg .pt.survived { fill: var(--ok); fill-opacity: .75; } svg .pt.survived.probe { fill: #fff; stroke: var(--ok); stroke-width: 1.5; }
svg .pt.expired { stroke: var(--bad); stroke-width: 2.2; fill: none; }
svg .bar { fill: #54aeff; } svg .pline { stroke: var(--fg); stroke-dasharray: 3 3; }
svg .session .span { fill: #54aeff; } svg .session.expired .span { fill: #ff8182; }
svg .session.deleted .span, svg .session.probe_closed .span { fill: #afb8c1; }
svg .idle-tail { stroke: #54aeff; stroke-dasharray: 2 3; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 13px; color: var(--muted); margin: 4px 0 0; padding: 0; list-style: none; }
.legend svg { vertical-align: middle; }
form.probe { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; border: 1px solid var(--line); border-radius: 6px; padding: 12px; background: var(--bg); }
form.probe label { display: flex; flex-direction: column; font-size: 13px; font-weight: 600; gap: 2px; }
form.probe input, form.probe select { font: inherit; padding: 5px 8px; border: 1px solid #8c959f; border-radius: 4px; background: #fff; min-width: 140px; max-width: 100%; }
form.probe label { max-width: 100%; min-width: 0; }
button { font: inherit; font-weight: 600; padding: 6px 16px; border-radius: 6px; border: 1px solid #1a7f37; background: #1f883d; color: #fff; cursor: pointer; }
button:disabled { background: #94d3a2; border-color: #94d3a2; cursor: wait; }
button.secondary { background: #fff; color: var(--bad); border-color: var(--bad); }
button[hidden] { display: none; }
form.probe output.estimate { flex-basis: 100%; font-weight: 600; }
form.probe output.estimate.error { font-weight: 400; }
.progress { margin: 10px 0 0; padding: 8px 12px; border-left: 3px solid var(--accent); background: var(--bg); min-height: 1.5em; }
.progress:empty { display: none; }
.progress ol { margin: 4px 0 0; padding-left: 20px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.progress .ok { color: var(--ok); } .progress .fail { color: var(--bad); }
.notice { padding: 8px 12px; border: 1px solid #d4a72c; background: #fff8c5; border-radius: 6px; }
.error { padding: 8px 12px; border: 1px solid var(--bad); background: #ffebe9; border-radius: 6px; }
.thin { color: var(--warn); font-weight: 600; }
ul.facts { margin: 4px 0 12px; padding-left: 20px; }
table.outcomes tr.fail td:nth-child(3) { color: var(--bad); }
section.upstream-run { margin-bottom: 24px; }
pre.snippet { margin: 4px 0 10px; padding: 8px 10px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; overflow-x: auto; font-size: 13px; }
/* Phone width: tables scroll sideways inside the page instead of widening it. */
@media (max-width: 700px) {
  main { padding: 12px; }
  header.top { padding: 10px 12px; flex-wrap: wrap; }
  table { display: block; overflow-x: auto; max-width: 100%; }
  .cards { grid-template-columns: 1fr; }
  .grid2 > * { min-width: 0; }
  form.probe label, form.probe input, form.probe select { max-width: 100%; }
  svg { max-width: 100%; height: auto; }
}
/* Dark mode follows the system setting. */
@media (prefers-color-scheme: dark) {
  :root { color-scheme: dark; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --bg: #161b22;
    --accent: #4493f8; --ok: #3fb950; --bad: #f85149; --warn: #d29922; }
  body { background: #0d1117; }
  .card, .skip:focus { background: #0d1117; }
  header.top { background: #010409; }
  .notice { background: #2e2a1f; border-color: #9e6a03; }
  .error { background: #2d1214; }
  button { background: #238636; border-color: #2ea043; }
  button:disabled { background: #1f3d28; border-color: #1f3d28; }
  button.secondary { background: transparent; }
  svg .pt.survived.probe { fill: #0d1117; }
  svg .bar { fill: #1f6feb; }
  form.probe input, form.probe select { background: #0d1117; color: var(--fg); border-color: var(--line); }
  tr.chosen th, tr.chosen td { background: #12261e; }
  .pill.pool { color: #3fb950; background: #12261e; border-color: #238636; }
  .pill.per-turn { color: #d29922; background: #272115; border-color: #9e6a03; }
  .pill.per-call { color: #f85149; background: #2d1214; border-color: #da3633; }
}
`;

/**
 * Pages refresh their live parts (elements with an id and `data-live`) from the same URL every
 * few seconds while visible, so cards, charts and tables follow the data without a reload. The
 * probe form and its progress are left alone.
 */
const LIVE_REFRESH_SCRIPT = `
(() => {
  const EVERY_MS = 5000;
  const refresh = async () => {
    if (document.hidden) return;
    let html;
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (!res.ok) return;
      html = await res.text();
    } catch { return; }
    const next = new DOMParser().parseFromString(html, 'text/html');
    for (const fresh of next.querySelectorAll('[data-live][id]')) {
      const current = document.getElementById(fresh.id);
      if (current && current.innerHTML !== fresh.innerHTML) current.replaceWith(document.importNode(fresh, true));
    }
    const stamp = document.getElementById('live-stamp');
    if (stamp) stamp.textContent = 'updated ' + new Date().toLocaleTimeString();
  };
  setInterval(refresh, EVERY_MS);
})();
`;

export function Page(props: { title: string; children: Child; script?: string }) {
  // The scripts read the mount prefix from here for their fetches (see mount.ts).
  return (
    <html lang="en" data-base={useMount()}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {/* An inline icon: no /favicon.ico request, no 404 in the console. */}
        <link
          rel="icon"
          href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='6' fill='%231a7f37'/%3E%3C/svg%3E"
        />
        <title>{props.title} · mcp-session-probe</title>
        <style>{raw(STYLE)}</style>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a href={useHref('/')}>mcp-session-probe</a>
          <span class="tag">how long do MCP sessions live?</span>
          <nav aria-label="Admin API">
            <a href={useHref('/api/report')}>report JSON</a>
            <a href={useHref('/metrics')}>metrics</a>
          </nav>
        </header>
        <main id="main">
          {props.children}
          <p class="muted">
            <small id="live-stamp" aria-live="off">
              Parts of this page refresh every few seconds.
            </small>
          </p>
        </main>
        <script>{raw(LIVE_REFRESH_SCRIPT)}</script>
        {props.script && <script>{raw(props.script)}</script>}
      </body>
    </html>
  );
}
