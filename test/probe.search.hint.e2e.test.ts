// A search starts from what the store already shows: after a fanout has put an upstream's
// idle timeout between 2 s and 4 s, the next search (same database, no mode, no intervals)
// starts its climb at 2 s instead of 0.9 s.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeCommand } from '../src/commands/probe.js';
import type { ProbeResult } from '../src/probe/result.js';
import { startSdkV2IdleServer } from './fixtures/sdkV2IdleServer.js';

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.allSettled(closers.map((c) => c()));
});

describe('probe search from the passive window', () => {
  it('starts where the stored window starts, and still holds T', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-hint-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const server = await startSdkV2IdleServer({ idleTimeoutMs: 2600 });
    closers.push(() => server.close());
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        upstreams: [{ id: 'sdk', url: server.url }],
        storage: { url: `sqlite:${join(dir, 'probe.db')}` },
      }),
    );
    const run = async (extra: string[]) => {
      const output = join(dir, `result-${extra.length}.json`);
      let stderr = '';
      const code = await probeCommand(['--config', config, '--output', output, ...extra], {
        stdout: () => {},
        stderr: (t) => {
          stderr += t;
        },
      });
      expect(code, stderr).toBe(0);
      return JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    };
    const fanout = await run(['--intervals', '1,2,4']);
    expect(fanout.mode).toBe('fanout');
    expect(fanout.results[0]!.window).toMatchObject({ upperSeconds: expect.any(Number) });

    const searched = (await run([])).results[0]!;
    const s = searched.search!;
    expect(s.startedFrom?.lowerSeconds).toBeGreaterThanOrEqual(1.9);
    expect(s.startedFrom?.upperSeconds).toBeGreaterThanOrEqual(3.9);
    // The first check already tests the stored lower edge.
    expect(searched.checkpoints[0]!.idleSecondsTarget).toBeGreaterThanOrEqual(s.startedFrom!.lowerSeconds!);
    expect(s.window.lowerSeconds!).toBeLessThan(2.6);
    expect(s.window.upperSeconds!).toBeGreaterThanOrEqual(2.55);
    expect(s.window.upperSeconds! - s.window.lowerSeconds!).toBeLessThanOrEqual(1);
  }, 60_000);
});
