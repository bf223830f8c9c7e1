// Decision record 0081: how often the `search` mode's window keeps T on its safe side against
// periodic sweepers, on the simulated clock of test/helpers/searchSimulation.ts.
//   npx tsx docs/decisions/0081-sweeper-simulation.mts [runs] [seed] [helper path]
// The helper path lets the same runs go against another checkout's simulation (e.g. main's).
const [runs = 3000, seed = 1] = process.argv.slice(2, 4).map(Number);
const helper = process.argv[4] ?? '../../test/helpers/searchSimulation.ts';
const { simulateSearch } = await import(new URL(helper, import.meta.url).href);

/** A small deterministic generator, so that a run can be repeated. */
function generator(start: number) {
  let state = start;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

type Sweepers = 'random period' | 'mcp-proxy';

function measure(kind: Sweepers) {
  const random = generator(seed);
  let flagged = 0;
  let above = 0;
  let aboveWithUpper = 0;
  let aboveUnsaid = 0;
  let widest = 0;
  let wallOverBound = 0;
  for (let i = 0; i < runs; i++) {
    // T log-uniform in [1 s, 3,600 s]; sweeps at least once per timeout.
    const T = Math.exp(random() * Math.log(3600));
    const period = kind === 'mcp-proxy' ? Math.min(T, 60) : Math.max(0.5, random() * Math.min(T, 60));
    const phase = random() * period;
    const r = simulateSearch({
      upstream: { idleTimeoutSeconds: T, sweep: { periodSeconds: period, phaseSeconds: phase } },
      budget: 31,
    });
    const w = r.summary.window;
    const sweep = r.summary.sweep;
    if (w.overlapping) flagged++;
    if (r.wallSeconds > 2 * T + 10) wallOverBound++;
    const lower = w.lowerSeconds ?? 0;
    if (lower <= T) continue;
    above++;
    if (w.upperSeconds !== null) aboveWithUpper++;
    widest = Math.max(widest, (lower - T) / Math.max(1, 0.05 * T));
    // A miss the result did not own up to: it claimed to hold for this sweeper's period.
    const holds = sweep?.lowerHoldsForPeriodUpToSeconds;
    if (!sweep || holds === null || period <= holds) aboveUnsaid++;
  }
  const pct = (n: number) => `${((100 * n) / runs).toFixed(2)}%`;
  return {
    sweepers: kind,
    runs,
    flagged: pct(flagged),
    lowerAboveT: pct(above),
    lowerAboveTWithUpperEdge: pct(aboveWithUpper),
    lowerAboveTNotOwnedUp: aboveUnsaid,
    worstExcessInTolerances: Number(widest.toFixed(2)),
    wallOver2TPlus10: pct(wallOverBound),
  };
}

console.table([measure('random period'), measure('mcp-proxy')]);
