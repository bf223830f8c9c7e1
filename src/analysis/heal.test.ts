import { describe, expect, it } from 'vitest';
import { summarizeHeals } from './heal.js';

describe('summarizeHeals', () => {
  it('counts only healed exchanges and sums what their replacements cost', () => {
    const s = summarizeHeals([
      { healed: false, healLatencyMs: null },
      { healed: true, healLatencyMs: 200 },
      { healed: true, healLatencyMs: 400 },
      { healed: true, healLatencyMs: null },
    ]);
    expect(s.absorbed).toBe(3);
    expect(s.latency.n).toBe(2);
    expect(s.totalMs).toBe(600);
  });

  it('says nothing was absorbed when nothing was healed', () => {
    expect(summarizeHeals([{ healed: false, healLatencyMs: null }])).toEqual({
      absorbed: 0,
      latency: { p50Ms: null, p90Ms: null, n: 0 },
      totalMs: 0,
    });
  });
});
