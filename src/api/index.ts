import { Hono } from 'hono';
import { lossKey } from '../analysis/loss.js';
import { lossCauses } from '../analysis/report.js';
import type { ObservationStore } from '../store/types.js';
import { firstExpiryPerSession } from './expirations.js';
import { expirationJson, sessionJson, upstreamJson } from './serialize.js';

export interface AdminApiOptions {
  store: ObservationStore;
  /** Liveness details for /healthz (recorder stats, tracker size...). */
  health?: () => Record<string, unknown>;
}

const MAX_LIMIT = 10_000;

function parseLimit(raw: string | undefined): number | { error: string } {
  if (raw === undefined || raw === '') return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    return { error: `limit "${raw}" must be an integer from 1 to ${MAX_LIMIT}` };
  }
  return n;
}

/**
 * Read-only JSON routes over the store (docs/contract.md "Admin API"). Mount under `/`
 * of the serve app; authentication is a separate middleware.
 */
export function adminApi({ store, health }: AdminApiOptions): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ status: 'ok', ...(health?.() ?? {}) }));

  app.get('/api/upstreams', async (c) => c.json((await store.listUpstreams()).map(upstreamJson)));

  app.get('/api/sessions', async (c) => {
    const limit = parseLimit(c.req.query('limit'));
    if (typeof limit !== 'number') return c.json({ error: limit.error }, 400);
    const rows = await store.listSessions({ upstream: c.req.query('upstream') || undefined, limit });
    return c.json(rows.map(sessionJson));
  });

  app.get('/api/expirations', async (c) => {
    const limit = parseLimit(c.req.query('limit'));
    if (typeof limit !== 'number') return c.json({ error: limit.error }, 400);
    // Repeats of an expiry are read too (up to 4 per session) so that `limit` still counts sessions.
    const read = await store.listExpirations({
      upstream: c.req.query('upstream') || undefined,
      limit: Math.min(limit * 4, MAX_LIMIT),
    });
    const rows = firstExpiryPerSession(read).slice(0, limit);
    const causes = await lossCauses(store, rows);
    return c.json(rows.map((e) => expirationJson(e, causes.get(lossKey(e)) ?? null)));
  });

  return app;
}
