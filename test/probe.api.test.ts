// /api/probes over the real serve stack (SQLite file, fixture upstreams on loopback).
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeResult } from '../src/probe/result.js';
import { upstreamPool } from './fixtures/upstreams.js';
import { sleep, startTestProxy, type TestProxy, upstreamConfig } from './helpers/proxy.js';

const upstreams = upstreamPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.cleanup()));
  await upstreams.closeAll();
});

async function serveWith(...ids: string[]): Promise<TestProxy> {
  const list = await Promise.all(
    ids.map(async (id) => upstreamConfig(id, (await upstreams.start({ idleTimeoutMs: 1000 })).url)),
  );
  const p = await startTestProxy(list);
  proxies.push(p);
  return p;
}

async function post(p: TestProxy, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${p.url}/api/probes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function waitForStatus(p: TestProxy, id: string, not = 'running'): Promise<ProbeResult> {
  for (let i = 0; i < 100; i++) {
    const r = (await (await fetch(`${p.url}/api/probes/${id}`)).json()) as ProbeResult;
    if (r.status !== not) return r;
    await sleep(50);
  }
  throw new Error(`probe ${id} still ${not}`);
}

async function readEvents(url: string): Promise<EventSourceMessage[]> {
  const res = await fetch(url);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) parser.feed(decoder.decode(chunk, { stream: true }));
  return events;
}

describe('/api/probes', () => {
  it('POST → 202 with an id; events stream one per step and close at the end; GET gives the result; probe exchanges land in the store', async () => {
    const p = await serveWith('alpha');
    const started = await post(p, { upstream: 'alpha', mode: 'fanout', intervals: [0.1, 1.2] });
    expect(started.status).toBe(202);
    const id = started.json['id'] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const events = await readEvents(`${p.url}/api/probes/${id}/events`);
    const types = events.map((e) => e.event);
    expect(types).toContain('opened');
    expect(types).toContain('control');
    expect(types.filter((t) => t === 'checkpoint')).toHaveLength(2);
    expect(types.at(-1)).toBe('run-done');

    const result = await waitForStatus(p, id);
    expect(result).toMatchObject({ id, status: 'done', mode: 'fanout', intervals: [0.1, 1.2] });
    const cps = result.results[0]!.checkpoints.map((c) => [c.idleSecondsTarget, c.success, c.errorType]);
    expect(cps.sort()).toEqual([
      [0.1, true, null],
      [1.2, false, 'session_expired'],
    ]);

    await p.flush();
    const probeExchanges = await p.store.listExchanges({ upstream: 'alpha', source: 'probe', limit: 1000 });
    expect(probeExchanges.length).toBeGreaterThan(8);
    expect(probeExchanges.every((e) => e.probeRunId === id)).toBe(true);
    const expirations = (await (await fetch(`${p.url}/api/expirations?upstream=alpha`)).json()) as unknown[];
    expect(expirations).toHaveLength(1);
    const [flags] = (await p.store.listUpstreams()).filter((u) => u.id === 'alpha');
    expect(flags!.validatesSessionIds).toBe(true);

    const list = (await (await fetch(`${p.url}/api/probes`)).json()) as ProbeResult[];
    expect(list.map((r) => r.id)).toContain(id);
  });

  it('the stored run survives a restart', async () => {
    const p = await serveWith('alpha');
    const { json } = await post(p, { upstream: 'alpha', intervals: [0.05] });
    const id = json['id'] as string;
    await waitForStatus(p, id);
    const dbPath = p.dbPath;
    await p.close();
    const again = await startTestProxy([upstreamConfig('alpha', 'http://127.0.0.1:9/mcp')], { dbPath });
    proxies.push(again);
    const r = (await (await fetch(`${again.url}/api/probes/${id}`)).json()) as ProbeResult;
    expect(r.status).toBe('done');
    expect(r.results[0]!.checkpoints).toHaveLength(1);
    const events = await readEvents(`${again.url}/api/probes/${id}/events`);
    expect(events.map((e) => e.event)).toEqual(['run-done']);
  });

  it('unknown upstreams and bad intervals get 400 with a message that says what to fix', async () => {
    const p = await serveWith('alpha');
    const unknown = await post(p, { upstream: 'nope' });
    expect(unknown.status).toBe(400);
    expect(unknown.json['error']).toBe('unknown upstream "nope"; configured: alpha');
    const bad = await post(p, { upstream: 'alpha', intervals: [5, -1] });
    expect(bad.status).toBe(400);
    expect(bad.json['error']).toBe('probe request: intervals.1: must be a positive number of seconds');
    const none = await post(p, { mode: 'ladder' });
    expect(none.status).toBe(400);
    expect(String(none.json['error'])).toMatch(/name the upstream to probe/);
    const mode = await post(p, { upstream: 'alpha', mode: 'sideways' });
    expect(mode.status).toBe(400);
    expect(String(mode.json['error'])).toMatch(/^probe request: mode: /);
    expect((await fetch(`${p.url}/api/probes/does-not-exist`)).status).toBe(404);
  });

  it('DELETE cancels a running probe; beyond the concurrency limit POST answers 429', async () => {
    const p = await serveWith('alpha');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(p, { upstream: 'alpha', intervals: [30] });
      expect(r.status).toBe(202);
      ids.push(r.json['id'] as string);
    }
    const over = await post(p, { upstream: 'alpha', intervals: [30] });
    expect(over.status).toBe(429);
    expect(String(over.json['error'])).toMatch(/limit 4/);

    for (const id of ids) {
      const del = await fetch(`${p.url}/api/probes/${id}`, { method: 'DELETE' });
      expect(del.status).toBe(202);
    }
    const cancelled = await waitForStatus(p, ids[0]!);
    expect(cancelled.status).toBe('cancelled');
    expect((await fetch(`${p.url}/api/probes/${ids[0]}`, { method: 'DELETE' })).status).toBe(409);
    for (const id of ids) await waitForStatus(p, id);
    expect((await post(p, { upstream: 'alpha', intervals: [0.05] })).status).toBe(202);
  });

  it('a config schedule (probe: { every, mode, intervals }) starts runs by itself, never two at once per upstream', async () => {
    const up = await upstreams.start({ idleTimeoutMs: 1000 });
    const p = await startTestProxy([
      upstreamConfig('sched', up.url, { probe: { everyMs: 200, mode: 'ladder', intervals: [0.3] } }),
    ]);
    proxies.push(p);
    let runs: ProbeResult[] = [];
    for (let i = 0; i < 60 && !runs.some((r) => r.status === 'done'); i++) {
      await sleep(100);
      runs = (await (await fetch(`${p.url}/api/probes`)).json()) as ProbeResult[];
    }
    const done = runs.find((r) => r.status === 'done');
    expect(done).toMatchObject({ mode: 'ladder', intervals: [0.3] });
    expect(done!.results[0]!.checkpoints[0]).toMatchObject({ idleSecondsTarget: 0.3, success: true });
    // Every 200 ms, but each run takes longer than that: runs never overlap.
    expect(runs.filter((r) => r.status === 'running').length).toBeLessThanOrEqual(1);
  });
});
