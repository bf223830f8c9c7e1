// The dashboard's one script: it turns the probe form (which also works as a plain
// POST without JavaScript) into a live one. It POSTs the JSON the admin API expects
// to /api/probes, then follows /api/probes/:id/events and appends one line per event.
// Kept as a string so there is no front-end build step; it uses only DOM APIs.
export const LIVE_PROBE_SCRIPT = `
(() => {
  const FINAL = new Set(['done', 'failed', 'cancelled']);
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
        return at + (d.phase === 'done' ? 'search ' + (d.stopReason || 'done') + ': window ' : 'search window ') + win + (d.widthSeconds != null ? ' width ' + d.widthSeconds + 's' : '') + ' (' + d.phase + ', ' + d.sessionsOpened + ' sessions, ' + d.checks + ' checks)';
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
  for (const form of document.querySelectorAll('form[data-live-probe]')) {
    const out = document.getElementById(form.dataset.output);
    const button = form.querySelector('button');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const intervals = String(data.get('intervals') || '').split(/[\\s,]+/).filter(Boolean).map(Number);
      const body = { upstream: data.get('upstream'), mode: data.get('mode') };
      if (intervals.length) body.intervals = intervals;
      out.replaceChildren(document.createTextNode('Starting probe…'));
      button.disabled = true;
      let res;
      try {
        res = await fetch('/api/probes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
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
      title.innerHTML = 'Probe <code></code> <span class="state">running</span>';
      title.querySelector('code').textContent = answer.id;
      const list = document.createElement('ol');
      out.replaceChildren(title, list);
      const state = title.querySelector('.state');
      const source = new EventSource('/api/probes/' + encodeURIComponent(answer.id) + '/events');
      const finish = (status) => {
        source.close();
        button.disabled = false;
        state.textContent = status;
        const again = document.createElement('a');
        again.href = location.pathname + '#probe-runs';
        again.textContent = 'Reload to update the charts';
        title.append(' ');
        again.addEventListener('click', () => location.reload());
        title.append(again);
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
