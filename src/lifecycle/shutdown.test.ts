import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { drainable } from './drain.js';
import { shutdown } from './shutdown.js';

function parts(overrides: Partial<Parameters<typeof shutdown>[0]> = {}) {
  const order: string[] = [];
  const server = createServer((_req, res) => res.end('ok'));
  const drain = drainable(server);
  const step = (name: string) => async () => void order.push(name);
  return {
    order,
    server,
    parts: {
      drain,
      endStreams: () => void order.push('endStreams'),
      stopProducers: step('stopProducers'),
      flushRecorder: step('flushRecorder'),
      stopTelemetry: step('stopTelemetry'),
      closeStore: step('closeStore'),
      closeRest: step('closeRest'),
      ...overrides,
    },
  };
}

describe('shutdown', () => {
  it('runs the parts in the order that loses nothing', async () => {
    const { order, parts: p, server } = parts();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await shutdown(p, { graceMs: 5000 });
    expect(order).toEqual([
      'endStreams',
      'stopProducers',
      'flushRecorder',
      'stopTelemetry',
      'closeStore',
      'closeRest',
    ]);
    expect(server.listening).toBe(false);
  });

  it('fits in the grace when a part never ends, and cuts the store short when it is out of time', async () => {
    let abandoned = false;
    const {
      order,
      parts: p,
      server,
    } = parts({
      stopTelemetry: () => new Promise<void>(() => {}),
      closeStore: () => new Promise<void>(() => {}),
      abandonStore: () => {
        abandoned = true;
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const warnings: string[] = [];
    const started = performance.now();
    await shutdown(p, { graceMs: 1500, logger: { warn: (m) => void warnings.push(m) } });
    const took = performance.now() - started;
    expect(took).toBeLessThan(1500 + 300);
    // The recorder still flushed and the rest still closed.
    expect(order).toEqual(['endStreams', 'stopProducers', 'flushRecorder', 'closeRest']);
    expect(abandoned).toBe(true);
    expect(warnings.join('\n')).toMatch(/flushing telemetry did not finish/);
    expect(warnings.join('\n')).toMatch(/closing the store did not finish/);
  });
});
