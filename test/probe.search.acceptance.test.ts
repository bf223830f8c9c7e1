// Acceptance of the `search` mode: the official SDK v2 server (`@modelcontextprotocol/server`
// 2.4 + `@modelcontextprotocol/node`) with exact idle timeouts of 13 s and 30 s, probed
// together through the CLI with no mode and no intervals. About 50 s of real time.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeCommand } from '../src/commands/probe.js';
import type { ProbeResult } from '../src/probe/result.js';
import { type SdkV2IdleServer, startSdkV2IdleServer } from './fixtures/sdkV2IdleServer.js';

/** Loopback latency: the server stamps activity a few ms apart from the probe's own clock. */
const CLOCK_SLACK_SECONDS = 0.05;

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.allSettled(closers.map((c) => c()));
});

describe('probe search acceptance', () => {
  it('SDK v2 servers with idle timeouts of 13 s and 30 s, probed together with no mode and no intervals: each window holds T and is at most max(1 s, 5% of T) wide, the whole run takes at most 70 s, each upstream sees at most 32 sessions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-acceptance-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const timeouts: Record<string, number> = { thirteen: 13, thirty: 30 };
    const servers: Record<string, SdkV2IdleServer> = {};
    for (const [id, T] of Object.entries(timeouts)) {
      const s = await startSdkV2IdleServer({ idleTimeoutMs: T * 1000 });
      closers.push(() => s.close());
      servers[id] = s;
    }
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        upstreams: Object.entries(servers).map(([id, s]) => ({ id, url: s.url })),
        storage: { url: `sqlite:${join(dir, 'probe.db')}` },
      }),
    );
    const output = join(dir, 'result.json');
    let stderr = '';
    const startedAt = Date.now();
    const code = await probeCommand(['--config', config, '--output', output], {
      stdout: () => {},
      stderr: (t) => {
        stderr += t;
      },
    });
    const wallSeconds = (Date.now() - startedAt) / 1000;
    expect(code, stderr).toBe(0);
    expect(wallSeconds).toBeLessThanOrEqual(70);
    const result = JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    expect(result.mode).toBe('search');
    for (const [id, T] of Object.entries(timeouts)) {
      const r = result.results.find((x) => x.upstream === id)!;
      const w = r.search!.window;
      const lower = w.lowerSeconds ?? 0;
      expect(lower, id).toBeLessThan(T);
      expect(w.upperSeconds!, id).toBeGreaterThanOrEqual(T - CLOCK_SLACK_SECONDS);
      expect(w.upperSeconds! - lower, id).toBeLessThanOrEqual(Math.max(1, 0.05 * T));
      expect(servers[id]!.sessionsOpened, id).toBeLessThanOrEqual(32);
    }
    // How it went, for whoever reads the log of this run.
    console.log(
      `search acceptance: ${wallSeconds.toFixed(1)} s; ${result.results
        .map(
          (r) =>
            `${r.upstream} (${r.search!.window.lowerSeconds}, ${r.search!.window.upperSeconds}] narrow after ${r.search!.narrowAfterSeconds} s, ${servers[r.upstream]!.sessionsOpened} sessions, ${r.search!.checks} checks, sweep ${JSON.stringify(r.search!.sweep)}`,
        )
        .join('; ')}`,
    );
  }, 120_000);
});
