import { describe, expect, it } from 'vitest';
import { type Checkpoint, emptyUpstreamResult, type ProbeResult } from '../probe/result.js';
import { StoredProbeEvents } from './storedProbeEvents.js';

const checkpoint = (idleSecondsTarget: number): Checkpoint => ({
  idleSecondsTarget,
  elapsedSinceOpenSeconds: null,
  elapsedSinceLastCallSeconds: idleSecondsTarget,
  success: true,
  latencySeconds: 0.01,
  toolsReturned: 3,
  errorType: null,
  errorMessage: null,
  httpStatus: 200,
  streamAttached: false,
  failedAt: null,
  round: null,
});

function run(status: ProbeResult['status'], elapsedSeconds: number, checkpoints: number[][]): ProbeResult {
  return {
    id: 'run-1',
    status,
    startedAt: '2026-12-07T12:00:00.000Z',
    elapsedSeconds,
    mode: 'fanout',
    intervals: [5, 30],
    options: {
      holdStream: false,
      keepaliveSeconds: null,
      timeoutSeconds: null,
      budget: 0,
      minWindowSeconds: 1,
    },
    results: checkpoints.map((cps, i) => ({
      ...emptyUpstreamResult(`u${i}`, false),
      sessionIssued: cps.length > 0 ? true : null,
      initLatencySeconds: cps.length > 0 ? 0.02 : null,
      checkpoints: cps.map(checkpoint),
    })),
    fatalError: null,
  };
}

describe('StoredProbeEvents', () => {
  it('turns successive saved results into each step once, and run-done last', () => {
    const events = new StoredProbeEvents();
    const types = (r: ProbeResult) =>
      events.next(r).map((e) => `${e.type}${'upstream' in e ? ` ${e.upstream}` : ''}`);
    expect(types(run('running', 1, [[], []]))).toEqual([]);
    expect(types(run('running', 2, [[5], []]))).toEqual(['opened u0', 'checkpoint u0']);
    expect(types(run('running', 3, [[5], []]))).toEqual([]);
    expect(types(run('running', 31, [[5, 30], [5]]))).toEqual([
      'checkpoint u0',
      'opened u1',
      'checkpoint u1',
    ]);
    expect(types(run('cancelled', 32, [[5, 30], [5]]))).toEqual([
      'upstream-done u0',
      'upstream-done u1',
      'run-done',
    ]);
    expect(types(run('cancelled', 33, [[5, 30], [5]]))).toEqual([]);
  });

  it('carries the checkpoint as saved and the run status', () => {
    const events = new StoredProbeEvents();
    const all = events.next(run('done', 6, [[5]]));
    expect(all.find((e) => e.type === 'checkpoint')).toMatchObject({
      t: 6,
      upstream: 'u0',
      checkpoint: checkpoint(5),
    });
    expect(all.at(-1)).toEqual({ type: 'run-done', t: 6, status: 'done' });
  });
});
