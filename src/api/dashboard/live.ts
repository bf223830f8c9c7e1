// The dashboard's one script: it turns the probe form (which also works as a plain
// POST without JavaScript) into a live one. It POSTs the JSON the admin API expects
// to /api/probes, then follows /api/probes/:id/events and appends one line per event.
// Kept as a string so there is no front-end build step; it uses only DOM APIs.
export const LIVE_PROBE_SCRIPT = `
(() => {
  const FINAL = new Set(['done', 'failed', 'cancelled']);
  // The mount prefix ('' at the root, '/gateway' when a host app mounts the dashboard there).
  const BASE = document.documentElement.dataset.base || '';
  const secs = (v) => (typeof v === 'number' ? v.toFixed(3) + 's' : '?');
  // One line per src/probe ProbeEvent, in the CLI's progress format.
  const describe = (type, d) => {
    if (d == null || typeof d !== 'object') return type + (d == null ? '' : ': ' + d);
    const at = '[upstream=' + (d.upstream || '?') + ' t=+' + (typeof d.t === 'number' ? Math.round(d.t) : '?') + 's] ';
    switch (d.type) {
      case 'opened':
        return at + 'session opened: initialize ' + secs(d.initLatencySeconds) + (d.sessionIssued === false ? ' (stateless)' : '') + (d.toolsReturned != null ? ' (tools=' + d.toolsReturned + ')' : '');
      case 'control':
        return at + 'control request with a made-up session id: ' + (d.validatesSessionIds === false ? 'accepted (ids not validated)' : d.validatesSessionIds ? 'refused (ids validated)' : 'inconclusive') + (d.httpStatus ? ' ' + d.httpStatus : '');
      case 'waiting':
        return at + 'idle until ' + d.idleSecondsTarget + 's';
      case 'checkpoint': {
        const c = d.checkpoint || {};
        return at + 'idle ' + c.idleSecondsTarget + 's: ' + (c.success ? 'OK ' + secs(c.latencySeconds) + (c.toolsReturned != null ? ' (tools=' + c.toolsReturned + ')' : '') : 'FAIL ' + (c.errorType || '') + (c.httpStatus ? ' ' + c.httpStatus : ''));
      }
      case 'search': {
        const lo = d.lowerSeconds == null ? '0s' : d.lowerSeconds + 's';
        const win = d.upperSeconds == null ? '(' + lo + ', ∞)' : '(' + lo + ', ' + d.upperSeconds + 's]';
        return at + (d.phase === 'done' ? 'search ' + (d.stopReason || 'done') + ': window ' : 'search window ') + win + (d.widthSeconds != null ? ' width ' + d.widthSeconds + 's' : '') + (d.sweepDetected ? ', a sweeper: lower edge holds for any sweep' : '') + ' (' + d.phase + ', ' + d.sessionsOpened + ' sessions, ' + d.checks + ' checks)';
      }
      case 'keepalive':
        return at + 'keepalive: ' + JSON.stringify(d.keepalive).slice(0, 160);
      case 'upstream-done':
        return at + 'done' + (d.fatalError ? ': ' + d.fatalError : '');
      case 'run-done':
        return 'probe ' + d.status;
      default:
        return (d.type || type) + ': ' + JSON.stringify(d).slice(0, 200);
    }
  };
  // "5, 30s, 1m30s, 6h" → seconds, as the server parses them (src/probe/intervals.ts).
  const UNIT = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  const parseGap = (text) => {
    if (/^\\d+(\\.\\d+)?$/.test(text)) return Number(text);
    if (!/^(\\d+(\\.\\d+)?(ms|s|m|h|d))+$/.test(text)) return NaN;
    let total = 0;
    for (const m of text.matchAll(/(\\d+(?:\\.\\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT[m[2]];
    return total;
  };
  for (const form of document.querySelectorAll('form[data-live-probe]')) {
    const out = document.getElementById(form.dataset.output);
    const button = form.querySelector('button[type="submit"]');
    const cancel = form.querySelector('button[data-cancel]');
    const estimate = form.querySelector('[data-estimate]');
    let running = null;
    // The duration estimate follows the mode and the gaps as they are typed.
    let pending = 0;
    const badGap = (text) => text.split(/[\\s,]+/).filter(Boolean).find((gap) => !(parseGap(gap) > 0));
    const gapError = (gap) => '"' + gap + '" is not an idle gap; write seconds or durations such as 5, 30s, 10m, 6h';
    const refreshEstimate = () => {
      const ticket = ++pending;
      const data = new FormData(form);
      const bad = badGap(String(data.get('intervals') || ''));
      if (bad !== undefined) {
        estimate.textContent = gapError(bad);
        estimate.classList.add('error');
        return;
      }
      const query = new URLSearchParams({ mode: String(data.get('mode') || ''), intervals: String(data.get('intervals') || '') });
      fetch(BASE + '/api/probes/estimate?' + query, { credentials: 'same-origin' })
        .then((res) => res.json().then((answer) => ({ ok: res.ok, answer })))
        .then(({ ok, answer }) => {
          if (ticket !== pending || !estimate) return;
          estimate.textContent = ok ? 'Takes ' + answer.text + ' with these settings.' : answer.error || 'cannot estimate';
          estimate.classList.toggle('error', !ok);
        })
        .catch(() => {});
    };
    let timer = null;
    for (const field of form.querySelectorAll('select, input')) {
      field.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(refreshEstimate, 150);
      });
    }
    if (cancel) {
      cancel.addEventListener('click', async () => {
        if (!running) return;
        cancel.disabled = true;
        running.state.textContent = 'cancelling';
        try {
          const res = await fetch(BASE + '/api/probes/' + encodeURIComponent(running.id), { method: 'DELETE', credentials: 'same-origin' });
          if (!res.ok && res.status !== 409) running.state.textContent = 'cancel failed (' + res.status + ')';
        } catch (error) {
          running.state.textContent = 'cancel failed: ' + error;
        }
      });
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const text = String(data.get('intervals') || '');
      const bad = badGap(text);
      if (bad !== undefined) {
        out.textContent = gapError(bad);
        return;
      }
      const intervals = text.split(/[\\s,]+/).filter(Boolean).map(parseGap);
      const body = { upstream: data.get('upstream'), mode: data.get('mode') };
      if (intervals.length) body.intervals = intervals;
      out.replaceChildren(document.createTextNode('Starting probe…'));
      button.disabled = true;
      let res;
      try {
        res = await fetch(BASE + '/api/probes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
      } catch (error) {
        out.textContent = 'Could not reach the server: ' + error;
        button.disabled = false;
        return;
      }
      const answer = await res.json().catch(() => ({}));
      if (!res.ok || !answer.id) {
        out.textContent = 'The probe did not start (' + res.status + '): ' + (answer.error || res.statusText);
        button.disabled = false;
        return;
      }
      const title = document.createElement('div');
      title.innerHTML = 'Probe <a><code></code></a> <span class="state">running</span>';
      title.querySelector('a').href = BASE + '/probes/' + encodeURIComponent(answer.id);
      title.querySelector('code').textContent = answer.id;
      const list = document.createElement('ol');
      out.replaceChildren(title, list);
      const state = title.querySelector('.state');
      running = { id: answer.id, state };
      if (cancel) {
        cancel.hidden = false;
        cancel.disabled = false;
      }
      const source = new EventSource(BASE + '/api/probes/' + encodeURIComponent(answer.id) + '/events');
      const finish = (status) => {
        source.close();
        running = null;
        if (cancel) cancel.hidden = true;
        button.disabled = false;
        state.textContent = status;
        const note = document.createElement('span');
        note.className = 'muted';
        note.textContent = '(the charts and tables below update within a few seconds)';
        title.append(' ', note);
      };
      const seen = new Set();
      const onEvent = (event) => {
        // A reconnecting EventSource may replay events it already delivered.
        if (event.lastEventId && seen.has(event.lastEventId)) return;
        if (event.lastEventId) seen.add(event.lastEventId);
        let d = event.data;
        try { d = JSON.parse(event.data); } catch {}
        const item = document.createElement('li');
        item.textContent = describe(event.type, d);
        if (d && d.checkpoint) item.className = d.checkpoint.success ? 'ok' : 'fail';
        item.dataset.type = (d && d.type) || event.type;
        list.append(item);
        const status = d && d.type === 'run-done' ? d.status : null;
        if (status) state.textContent = status;
        if ((status && FINAL.has(status)) || event.type === 'run-done') finish(status || 'done');
      };
      for (const type of ['message', 'opened', 'control', 'waiting', 'checkpoint', 'keepalive', 'upstream-done', 'run-done']) source.addEventListener(type, onEvent);
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) finish(state.textContent === 'running' ? 'disconnected' : state.textContent);
      });
    });
  }
})();
`;
