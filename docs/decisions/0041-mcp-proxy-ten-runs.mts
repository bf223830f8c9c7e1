// Measurement behind docs/decisions/0041 (not part of the suite): 10 bisect runs at once against mcp-proxy (3 s, swept).
import { startProbeRun } from '../../src/probe/run.js';
import { startMcpProxy } from '../../test/fixtures/thirdParty.js';

const server = await startMcpProxy(3000);
const runs = await Promise.all(
  Array.from({ length: 10 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * 700));
    const run = startProbeRun({
      upstreams: [{ id: 'mcp-proxy', url: server.url, headers: {}, timeoutSeconds: 5 }],
      mode: 'bisect',
      intervalsSeconds: [1, 2, 4, 7],
      bisect: { budget: 9, minWindowSeconds: 1, parallel: 3 },
      record: () => {},
    });
    const r = await run.done;
    const w = r.results[0]!.window!;
    return {
      lower: w.lowerSeconds,
      upper: w.upperSeconds,
      overlapping: w.overlapping,
      sessions: r.results[0]!.checkpoints.length,
      elapsed: r.elapsedSeconds,
    };
  }),
);
await server.close();
const ok = runs.filter((w) => (w.lower ?? 0) <= 3 && w.upper !== null && w.upper > 3 && w.overlapping).length;
console.log(JSON.stringify(runs));
console.log(`${ok} of ${runs.length} runs: lower <= 3 s < upper, overlap flagged`);
