import type { ExchangeRecord } from '../sessions/types.js';
import { type LatencySummary, summarizeLatency } from './lifetime.js';

export interface HealSummary {
  /** Session errors heal mode answered from a replacement session (the agent never saw them). */
  absorbed: number;
  /** What opening each replacement cost (initialize + initialized). */
  latency: LatencySummary;
  /** The whole re-initialization time the absorbed expiries cost. */
  totalMs: number;
}

/** How many expiries heal mode absorbed on one upstream, and what they cost (the report's `heal`). */
export function summarizeHeals(
  exchanges: readonly Pick<ExchangeRecord, 'healed' | 'healLatencyMs'>[],
): HealSummary {
  const latencies: number[] = [];
  let absorbed = 0;
  for (const e of exchanges) {
    if (!e.healed) continue;
    absorbed++;
    if (e.healLatencyMs !== null) latencies.push(e.healLatencyMs);
  }
  return {
    absorbed,
    latency: summarizeLatency(latencies),
    totalMs: latencies.reduce((a, b) => a + b, 0),
  };
}
