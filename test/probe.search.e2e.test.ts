// The `search` mode against real servers whose idle timeout the probe is not told: the
// official SDK v2 server with an exact timeout, through the CLI with no mode and no intervals
// (probe.search.sweeper.e2e.test.ts: mcp-proxy's periodic sweeper).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probeCommand } from '../src/commands/probe.js';
import type { ProbeResult } from '../src/probe/result.js';
import { type SdkV2IdleServer, startSdkV2IdleServer } from './fixtures/sdkV2IdleServer.js';

/** Loopback latency: the server stamps activity a few ms apart from the probe's own clock. */
const CLOCK_SLACK_SECONDS = 0.05;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((c) => c()));
});

async function sdkServer(idleTimeoutMs: number): Promise<SdkV2IdleServer> {
  const s = await startSdkV2IdleServer({ idleTimeoutMs });
  closers.push(() => s.close());
  return s;
}

describe('probe search', () => {
  it('CLI with no mode and no intervals pins exact idle timeouts of 2.6 s and 7 s it is not told, within max(1 s, 5%), 2T + 10 s and 32 sessions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-search-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const servers = { short: await sdkServer(2600), long: await sdkServer(7000) };
    const timeouts = { short: 2.6, long: 7 };
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
    let stdout = '';
    const code = await probeCommand(['--config', config, '--output', output], {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
    });
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('(search up to 3600 s idle, at most 32 sessions each)');
    // The window is reported live as it narrows.
    expect(stderr).toMatch(/\[upstream=long t=\+\d+s\] search window \(\d/);
    expect(stderr).toMatch(/\[upstream=short t=\+\d+s\] search pinned: window \(/);
    const result = JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    expect(result).toMatchObject({ status: 'done', mode: 'search', intervals: [] });
    expect(result.options).toMatchObject({ budget: 32, maxIdleSeconds: 3600 });
    for (const [id, T] of Object.entries(timeouts)) {
      const r = result.results.find((x) => x.upstream === id)!;
      const s = r.search!;
      expect(s.stopReason, id).toBe('pinned');
      const lower = s.window.lowerSeconds ?? 0;
      const upper = s.window.upperSeconds!;
      expect(lower, id).toBeLessThan(T);
      expect(upper, id).toBeGreaterThanOrEqual(T - CLOCK_SLACK_SECONDS);
      expect(upper - lower, id).toBeLessThanOrEqual(Math.max(1, 0.05 * T));
      expect(r.window).toMatchObject({ lowerSeconds: s.window.lowerSeconds, upperSeconds: upper });
      expect(s.narrowAfterSeconds!, id).toBeLessThanOrEqual(2 * T + 10);
      expect(s.steps.at(-1)).toMatchObject({ phase: 'done' });
      expect(servers[id as keyof typeof servers].sessionsOpened, id).toBeLessThanOrEqual(32);
      expect(stdout).toContain(`${id}: search pinned: window (`);
    }
    expect(result.elapsedSeconds).toBeLessThanOrEqual(2 * timeouts.long + 10);
  }, 60_000);
});
