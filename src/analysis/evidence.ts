// Which lifetime evidence answers for which caller. Many servers (mcp-proxy, supergateway)
// never expire a session while its standalone GET stream is open, and every real SDK client
// opens one right after `initialize` and holds it: a caller that holds a stream is judged on
// the sessions that held one, a caller that does not on those that did not. Pure.
import type { LifetimeEstimate, LifetimeWindow } from './lifetime.js';
import { byCaller, type ReplayCall, type ReuseEvidence } from './replay.js';

/** Evidence that answers a caller: which window, and why. */
export type EvidenceKind = 'withStream' | 'withoutStream';

export interface CallerEvidence {
  holdsStream: boolean;
  kind: EvidenceKind;
  evidence: ReuseEvidence | null;
}

/** A caller holds a stream when most of its calls were made with a GET stream attached. */
export function holdsStream(calls: readonly ReplayCall[]): boolean {
  const attached = calls.filter((c) => c.streamAttached === true).length;
  return attached * 2 > calls.length;
}

const observed = (w: Pick<LifetimeWindow, 'survivals' | 'expirations'>) => w.survivals + w.expirations > 0;

/**
 * The evidence for a caller. A stream-holding caller uses the with-stream window when it has
 * any observation, else the without-stream one (a held stream never shortens a session, so
 * that side is safe). A caller without a stream never borrows with-stream survivals: they
 * prove nothing about sessions left alone.
 */
export function evidenceForCaller(
  lifetime: Pick<LifetimeEstimate, 'basis' | 'idle' | 'age' | 'withStream'>,
  stream: boolean,
): CallerEvidence {
  if (stream && observed(lifetime.withStream)) {
    return {
      holdsStream: true,
      kind: 'withStream',
      evidence: { basis: 'idle', window: lifetime.withStream },
    };
  }
  const age = lifetime.basis === 'age';
  const window = age ? lifetime.age : lifetime.idle;
  return {
    holdsStream: stream,
    kind: 'withoutStream',
    evidence: observed(window) ? { basis: age ? 'age' : 'idle', window } : null,
  };
}

export interface WorkloadEvidence {
  /** Per caller key (`callerHash ?? ''`). */
  callers: Map<string, CallerEvidence>;
  /** Which windows answered: one kind, or both for a mixed workload. */
  used: EvidenceKind[];
  callersHoldingStream: number;
}

/**
 * The evidence for every caller of a workload. `defaultHoldsStream` is for calls with no
 * stream information (the default workload): assume what the probe did.
 */
export function workloadEvidence(
  lifetime: Pick<LifetimeEstimate, 'basis' | 'idle' | 'age' | 'withStream'>,
  calls: readonly ReplayCall[],
  defaultHoldsStream: boolean,
): WorkloadEvidence {
  const callers = new Map<string, CallerEvidence>();
  let holding = 0;
  for (const [caller, list] of byCaller(calls)) {
    const known = list.some((c) => c.streamAttached !== undefined);
    const stream = known ? holdsStream(list) : defaultHoldsStream;
    if (stream) holding++;
    callers.set(caller, evidenceForCaller(lifetime, stream));
  }
  const used = [...new Set([...callers.values()].filter((c) => c.evidence).map((c) => c.kind))].sort();
  return { callers, used, callersHoldingStream: holding };
}
