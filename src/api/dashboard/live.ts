// The dashboard's one script: it turns the probe form (which also works as a plain
// POST without JavaScript) into a live one. It POSTs the JSON the admin API expects
// to /api/probes, then follows /api/probes/:id/events and appends one line per event.
// Kept as a string so there is no front-end build step; it uses only DOM APIs.
export const LIVE_PROBE_SCRIPT = `
(() => {
  const FINAL = new Set(['done', 'failed', 'cancelled']);
  const describe = (type, d) => {
    if (d == null || typeof d !== 'object') return type + (d == null ? '' : ': ' + d);
    if (typeof d.line === 'string') return d.line;
    if (typeof d.message === 'string' && !d.checkpoint) return d.message;
    const c = d.checkpoint || (d.idleSecondsTarget !== undefined ? d : null);
    if (c) {
      const who = d.upstream || c.upstream ? '[upstream=' + (d.upstream || c.upstream) + ' ' : '[';
      const t = 't=+' + (c.idleSecondsTarget ?? c.elapsedSinceOpenSeconds ?? '?') + 's] ';
      const latency = typeof c.latencySeconds === 'number' ? ' ' + c.latencySeconds.toFixed(3) + 's' : '';
      const tools = typeof c.toolsReturned === 'number' ? ' (tools=' + c.toolsReturned + ')' : '';
      return who + t + (c.success ? 'OK' : 'FAIL ' + (c.errorType || '') + (c.httpStatus ? ' ' + c.httpStatus : '')) + latency + tools;
    }
    if (typeof d.status === 'string') return 'probe ' + d.status + (d.fatalError ? ': ' + d.fatalError : '');
    return type + ': ' + JSON.stringify(d).slice(0, 200);
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
        again.textContent = ' Reload to update the charts';
        again.addEventListener('click', () => location.reload());
        title.append(again);
      };
      const onEvent = (event) => {
        let d = event.data;
        try { d = JSON.parse(event.data); } catch {}
        const item = document.createElement('li');
        item.textContent = describe(event.type, d);
        if (d && d.checkpoint) item.className = d.checkpoint.success ? 'ok' : 'fail';
        else if (d && typeof d.success === 'boolean') item.className = d.success ? 'ok' : 'fail';
        list.append(item);
        const status = d && typeof d.status === 'string' ? d.status : null;
        if (status) state.textContent = status;
        if ((status && FINAL.has(status)) || event.type === 'done' || event.type === 'end') finish(status || 'done');
      };
      for (const type of ['message', 'progress', 'checkpoint', 'result', 'status', 'done', 'end']) source.addEventListener(type, onEvent);
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) finish(state.textContent === 'running' ? 'disconnected' : state.textContent);
      });
    });
  }
})();
`;
