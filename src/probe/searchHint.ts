// Where a search starts: the idle window the store already shows for an upstream (passive
// traffic and earlier probes), when its basis is the idle gap.
import { buildUpstreamReport } from '../analysis/report.js';
import type { ObservationStore } from '../store/types.js';
import type { SearchRunOptions } from './searchProbe.js';

export type SearchHint = NonNullable<SearchRunOptions['hint']>;

/** Reads the current window; null when there is none or it cannot be read (the search starts cold). */
export function passiveWindowFrom(store: ObservationStore) {
  return async (upstream: string): Promise<SearchHint | null> => {
    try {
      const report = await buildUpstreamReport(store, upstream, { analysis: { turnGapSeconds: 120 } });
      const lifetime = report?.lifetime;
      if (lifetime?.basis !== 'idle') return null;
      const { lowerBoundSeconds, upperBoundSeconds } = lifetime;
      if (lowerBoundSeconds === null && upperBoundSeconds === null) return null;
      return { lowerSeconds: lowerBoundSeconds, upperSeconds: upperBoundSeconds };
    } catch {
      return null;
    }
  };
}
