import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tuneRuntime } from './runtime.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Runs the workload in a fresh node with V8's pretenuring trace; returns its output lines. */
function runWorkload(env: NodeJS.ProcessEnv = {}): { result: { pretenuringOff: boolean }; trace: string[] } {
  const out = execFileSync(
    process.execPath,
    ['--trace-pretenuring-statistics', '--import', 'tsx', 'test/fixtures/pretenureWorkload.ts'],
    { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const lines = out.split('\n');
  const result = JSON.parse(lines.find((l) => l.startsWith('{')) ?? 'null') as { pretenuringOff: boolean };
  return { result, trace: lines.filter((l) => l.includes('pretenuring:')) };
}

describe('tuneRuntime', () => {
  it('turns V8 allocation-site pretenuring off: objects that survive a few collections are not tenured', () => {
    const { result, trace } = runWorkload({ MCP_PROBE_V8_PRETENURING: '' });
    expect(result.pretenuringOff).toBe(true);
    expect(trace).toEqual([]);
  });

  it('leaves it on with MCP_PROBE_V8_PRETENURING=on: V8 then weighs that workload for pretenuring', () => {
    const { result, trace } = runWorkload({ MCP_PROBE_V8_PRETENURING: 'on' });
    expect(result.pretenuringOff).toBe(false);
    // Whether V8 goes on to tenure the site depends on when its collections fall; that it keeps
    // the statistics it decides on (one line per site per collection) does not.
    expect(trace.some((l) => /AllocationSite\(.*\(created, found, ratio\)/.test(l))).toBe(true);
  });

  it('leaves it alone when node was started with its own pretenuring flag, or the variable says on in any case', () => {
    // Not applied in this (test) process: both cases return before touching V8's flags.
    expect(tuneRuntime({}, ['--allocation-site-pretenuring'])).toEqual({ pretenuringOff: false });
    expect(tuneRuntime({}, ['--no-allocation_site_pretenuring'])).toEqual({ pretenuringOff: false });
    expect(tuneRuntime({ MCP_PROBE_V8_PRETENURING: 'ON' }, [])).toEqual({ pretenuringOff: false });
  });
});
