// The progress of a probe run that another process runs (a replica, a CLI probe), as events
// read from its saved result: the running process saves it at every step (at most 250 ms late)
// and this side polls it, so /api/probes/:id/events follows a run from any replica. Only what a
// saved result shows becomes an event: a session opened, each checkpoint, an upstream done, the
// run done (the live stream also says when it waits, and each step of a search).
import type { ProbeEvent, ProbeResult } from '../probe/result.js';

export class StoredProbeEvents {
  private readonly opened = new Set<string>();
  private readonly checkpoints = new Map<string, number>();
  private readonly finished = new Set<string>();
  private ended = false;

  /** The events `result` shows that earlier calls did not; `run-done` last once it has ended. */
  next(result: ProbeResult): ProbeEvent[] {
    if (this.ended) return [];
    const t = result.elapsedSeconds;
    const running = result.status === 'running';
    const events: ProbeEvent[] = [];
    for (const u of result.results) {
      const upstream = u.upstream;
      if (!this.opened.has(upstream) && (u.sessionIssued !== null || u.initLatencySeconds !== null)) {
        this.opened.add(upstream);
        events.push({
          type: 'opened',
          t,
          upstream,
          sessionIssued: u.sessionIssued ?? false,
          initLatencySeconds: u.initLatencySeconds,
          firstCallLatencySeconds: u.firstCallLatencySeconds,
          toolsReturned: u.toolsReturned,
          protocolVersion: u.protocolVersion,
        });
      }
      const sent = this.checkpoints.get(upstream) ?? 0;
      for (const checkpoint of u.checkpoints.slice(sent))
        events.push({ type: 'checkpoint', t, upstream, checkpoint });
      this.checkpoints.set(upstream, Math.max(sent, u.checkpoints.length));
      if (!this.finished.has(upstream) && (u.fatalError !== null || !running)) {
        this.finished.add(upstream);
        events.push({ type: 'upstream-done', t, upstream, fatalError: u.fatalError, warnings: u.warnings });
      }
    }
    if (!running) {
      this.ended = true;
      events.push({ type: 'run-done', t, status: result.status });
    }
    return events;
  }
}
