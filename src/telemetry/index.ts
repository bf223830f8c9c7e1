import { Hono } from 'hono';
import type { Telemetry } from './setup.js';

export * from './metrics.js';
export * from './semconv.js';
export * from './setup.js';
export * from './spans.js';
export * from './traceContext.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** `GET /metrics` in Prometheus text format, on the same server as the proxy and API. */
export function metricsRoute(telemetry: Pick<Telemetry, 'metricsText'>): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) =>
    c.body(await telemetry.metricsText(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }),
  );
  return app;
}
