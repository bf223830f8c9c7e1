import type { ExchangeRecord } from '../sessions/types.js';
import { summarizeLatency } from './lifetime.js';

export interface HealSummaryJson {
  /** Session errors heal mode answered from a replacement session (the agent never saw them). */
  absorbed: number;
  /** What opening each replacement cost (initialize + initialized), in seconds. */
  latencySeconds: { p50: number | null; p90: number | null; n: number };
  /** The whole re-initialization time the absorbed expiries cost, in seconds. */
  totalSeconds: number;
}

const sec = (ms: number | null): number | null => (ms === null ? null : Math.round(ms) / 1000);

/** How many expiries heal mode absorbed on one upstream, and what they cost (the report's `heal`). */
export function summarizeHeals(
  exchanges: readonly Pick<ExchangeRecord, 'healed' | 'healLatencyMs'>[],
): HealSummaryJson {
  const latencies: number[] = [];
  let absorbed = 0;
  for (const e of exchanges) {
    if (!e.healed) continue;
    absorbed++;
    if (e.healLatencyMs !== null) latencies.push(e.healLatencyMs);
  }
  const l = summarizeLatency(latencies);
  return {
    absorbed,
    latencySeconds: { p50: sec(l.p50Ms), p90: sec(l.p90Ms), n: l.n },
    totalSeconds: Math.round(latencies.reduce((a, b) => a + b, 0)) / 1000,
  };
}
