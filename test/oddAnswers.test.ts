// No upstream answer may bring the process down. A catalogue of odd answers (test/fixtures/
// oddUpstreams.ts) is fed to the prober as a real CLI process and to a real `serve` process
// (its proxy and its probe API); each upstream must get a clear error and the process must
// stay up (serve) or exit with a result file (probe).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeResult } from '../src/probe/result.js';
import { ODD_ANSWERS, type OddUpstreams, startOddUpstreams } from './fixtures/oddUpstreams.js';
import { initializeMessage } from './fixtures/upstreams.js';
import { runCli, startServe, writeConfig } from './helpers/cli.js';

const KINDS = Object.keys(ODD_ANSWERS);
/** Answers whose body the upstream itself breaks or never ends, or that fetch cannot decompress (relayed byte for byte). */
const BROKEN_BODIES = /reset-mid-body|close-after-head|bad-chunks|never-ends|bad-gzip/;
let odd: OddUpstreams;
let dir: string;
beforeAll(async () => {
  odd = await startOddUpstreams();
  dir = mkdtempSync(join(tmpdir(), 'mcp-probe-odd-'));
});
afterAll(async () => {
  await odd.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every odd answer twice: as a configured Streamable HTTP upstream and with `transport: auto`. */
function oddUpstreamConfig() {
  return KINDS.flatMap((kind) => [
    { id: `${kind}`, url: odd.url(kind), transport: 'streamable-http', timeoutSeconds: 2 },
    { id: `auto-${kind}`, url: odd.url(kind), transport: 'auto', timeoutSeconds: 2 },
  ]);
}

describe('the odd-answer catalogue', () => {
  it('probe CLI: every upstream gets a clear error in the result file, and a run where all failed exits 2', async () => {
    const config = writeConfig(
      dir,
      { upstreams: oddUpstreamConfig(), storage: { url: `sqlite:${join(dir, 'probe.db')}` } },
      'probe.json',
    );
    const output = join(dir, 'result.json');
    const run = runCli(['probe', '--config', config, '--intervals', '1', '--output', output]);
    const code = await run.exited;
    expect(run.output()).not.toMatch(/Unhandled|uncaught|RequestAbortedError/i);
    expect(code, run.output()).toBe(2);
    expect(run.output()).toMatch(/every upstream failed/);
    const result = JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    expect(result.status).toBe('done');
    expect(result.results.map((r) => r.upstream).sort()).toEqual(
      oddUpstreamConfig()
        .map((u) => u.id)
        .sort(),
    );
    for (const r of result.results) {
      // Clear: it names what failed (initialize or transport detection) and what was answered.
      expect(r.fatalError, r.upstream).toMatch(/initialize|transport auto/);
      expect(r.fatalError!.length, r.upstream).toBeLessThan(600);
    }
    const crash = result.results.find((r) => r.upstream === 'auto-reject-2026')!;
    expect(crash.fatalError).toContain('-32022');
    expect(crash.fatalError).toContain('a GET with 405');
  }, 60_000);

  it('serve stays up: proxied requests get an answer or a cleanly broken stream, and each probe reports its error', async () => {
    const config = writeConfig(
      dir,
      {
        upstreams: oddUpstreamConfig(),
        server: { host: '127.0.0.1', port: 0 },
        storage: { url: `sqlite:${join(dir, 'serve.db')}` },
      },
      'serve.json',
    );
    const serve = await startServe(config);
    try {
      const upstreams = oddUpstreamConfig();
      // The proxy: an initialize POST and a GET through each odd upstream.
      await Promise.all(
        upstreams.map(async (u) => {
          for (const method of ['POST', 'GET'] as const) {
            const res = await fetch(`${serve.url}/mcp/${u.id}`, {
              method,
              headers: {
                accept: 'application/json, text/event-stream',
                ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
              },
              body: method === 'POST' ? JSON.stringify(initializeMessage()) : undefined,
              signal: AbortSignal.timeout(4000),
            }).catch((err: Error) => err);
            if (res instanceof Error) {
              // A body the upstream broke is relayed broken; the never-ending one is cut by our deadline.
              expect(u.id, `${method} ${u.id}: ${res.message}`).toMatch(BROKEN_BODIES);
              continue;
            }
            const body = await res.arrayBuffer().catch((err: Error) => err);
            if (body instanceof Error)
              expect(u.id, `${method} ${u.id}: ${body.message}`).toMatch(BROKEN_BODIES);
            expect(res.status, `${method} ${u.id}`).toBeGreaterThanOrEqual(200);
          }
        }),
      );
      // The probe API: one run over every odd upstream.
      const started = await fetch(`${serve.url}/api/probes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstreams: upstreams.map((u) => u.id), mode: 'fanout', intervals: [1] }),
      });
      expect(started.status, await started.clone().text()).toBe(202);
      const { id } = (await started.json()) as { id: string };
      let probe: ProbeResult | null = null;
      for (let i = 0; i < 100; i++) {
        probe = (await (await fetch(`${serve.url}/api/probes/${id}`)).json()) as ProbeResult;
        if (probe.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(probe!.status).toBe('done');
      for (const r of probe!.results) expect(r.fatalError, r.upstream).toMatch(/initialize|transport auto/);
      const health = await fetch(`${serve.url}/healthz`);
      expect(health.status).toBe(200);
      expect(serve.child.exitCode).toBeNull();
      expect(serve.output()).not.toMatch(/Unhandled|uncaught|RequestAbortedError/i);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  }, 60_000);
});
