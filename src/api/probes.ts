// /api/probes: start, read, follow (SSE), cancel and list active probe runs.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { PROBE_MODES } from '../config/schema.js';
import { describeDuration, estimateProbeDuration } from '../probe/defaults.js';
import { parseIntervalsText } from '../probe/intervals.js';
import type { ProbeEvent } from '../probe/result.js';
import { ProbeLimitError, type ProbeRunner, UnknownUpstreamError } from '../probe/runner.js';
import { StoredProbeEvents } from './storedProbeEvents.js';

const seconds = z.number().refine((n) => Number.isFinite(n) && n > 0, 'must be a positive number of seconds');

/** Body of POST /api/probes: one upstream (`upstream`) or several (`upstreams`). */
export const probeRequestSchema = z
  .strictObject({
    upstream: z.string().min(1).optional(),
    upstreams: z.array(z.string().min(1)).min(1, 'must name at least one upstream').optional(),
    // Absent: `search` without intervals, `fanout` with them.
    mode: z.enum(PROBE_MODES).optional(),
    intervals: z.array(seconds).min(1, 'must list at least one idle gap in seconds').max(64).optional(),
    holdStream: z.boolean().default(false),
    keepaliveSeconds: seconds.optional(),
    timeoutSeconds: seconds.optional(),
    budget: z.number().int().min(0).max(256).optional(),
    minWindowSeconds: seconds.optional(),
    maxIdleSeconds: seconds.optional(),
  })
  .refine((b) => b.upstream !== undefined || b.upstreams !== undefined, {
    message: 'name the upstream to probe: {"upstream": "id"} or {"upstreams": ["a", "b"]}',
  });

export interface ProbeApiOptions {
  probes: ProbeRunner;
  /** How often the events of a run in another process are read from the store (default 1 s). */
  storedEventsPollMs?: number;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

export function probeApi({ probes, storedEventsPollMs = 1000 }: ProbeApiOptions): Hono {
  const app = new Hono();

  app.post('/api/probes', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json(
        { error: 'body must be JSON like {"upstream": "id", "mode": "fanout", "intervals": [5, 30]}' },
        400,
      );
    }
    const parsed = probeRequestSchema.safeParse(body);
    if (!parsed.success) return c.json({ error: `probe request: ${describeIssues(parsed.error)}` }, 400);
    const b = parsed.data;
    const upstreams = [...new Set([...(b.upstream ? [b.upstream] : []), ...(b.upstreams ?? [])])];
    try {
      const result = probes.start({
        upstreams,
        mode: b.mode,
        intervalsSeconds: b.intervals,
        holdStream: b.holdStream,
        keepaliveSeconds: b.keepaliveSeconds ?? null,
        timeoutSeconds: b.timeoutSeconds ?? null,
        budget: b.budget,
        minWindowSeconds: b.minWindowSeconds,
        maxIdleSeconds: b.maxIdleSeconds,
      });
      return c.json({ id: result.id, status: result.status }, 202, { location: `/api/probes/${result.id}` });
    } catch (err) {
      if (err instanceof UnknownUpstreamError) return c.json({ error: err.message }, 400);
      if (err instanceof ProbeLimitError) return c.json({ error: err.message }, 429);
      throw err;
    }
  });

  app.get('/api/probes', async (c) => {
    const raw = c.req.query('limit');
    const limit = raw === undefined ? 20 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      return c.json({ error: `limit "${raw}" must be an integer from 1 to 1000` }, 400);
    }
    return c.json(await probes.list(limit, c.req.query('upstream') || undefined));
  });

  // Before /api/probes/:id. How long a run with these choices takes (absent: the defaults).
  app.get('/api/probes/estimate', (c) => {
    const modeText = c.req.query('mode') || undefined;
    const mode = modeText === undefined ? undefined : PROBE_MODES.find((m) => m === modeText);
    if (modeText !== undefined && mode === undefined) {
      return c.json({ error: `mode "${modeText}" is not a mode; use ${PROBE_MODES.join(', ')}` }, 400);
    }
    const intervals = parseIntervalsText(c.req.query('intervals') ?? '');
    if (!intervals.ok) return c.json({ error: `intervals: ${intervals.error}` }, 400);
    const estimate = estimateProbeDuration({ mode, intervalsSeconds: intervals.seconds });
    return c.json({ ...estimate, text: describeDuration(estimate) });
  });

  app.get('/api/probes/:id', async (c) => {
    const result = await probes.get(c.req.param('id'));
    if (!result) return c.json({ error: `no probe run "${c.req.param('id')}"; see GET /api/probes` }, 404);
    return c.json(result);
  });

  app.delete('/api/probes/:id', async (c) => {
    const id = c.req.param('id');
    // Running here, or in another process sharing the store (a replica, a CLI probe).
    if (await probes.cancelAnywhere(id)) return c.json({ id, status: 'cancelling' }, 202);
    const result = await probes.get(id);
    if (!result) return c.json({ error: `no probe run "${id}"` }, 404);
    return c.json({ error: `probe run "${id}" is already ${result.status}` }, 409);
  });

  app.get('/api/probes/:id/events', async (c) => {
    const id = c.req.param('id');
    const queue: ProbeEvent[] = [];
    let wake: (() => void) | null = null;
    const sub = probes.subscribe(id, (event) => {
      queue.push(event);
      wake?.();
    });
    if (!sub) {
      const stored = await probes.get(id);
      if (!stored) return c.json({ error: `no probe run "${id}"` }, 404);
      if (stored.status !== 'running') {
        // Finished long ago: one final event with the status.
        return streamSSE(c, async (stream) => {
          await stream.writeSSE({
            event: 'run-done',
            data: JSON.stringify({ type: 'run-done', status: stored.status }),
          });
        });
      }
      // Running in another process sharing the store (a replica): its saved progress, polled.
      return streamSSE(c, async (stream) => {
        const progress = new StoredProbeEvents();
        let result: typeof stored | null = stored;
        while (result !== null && !stream.aborted) {
          for (const event of progress.next(result)) {
            await stream.writeSSE({ event: event.type, data: JSON.stringify(event) });
            if (event.type === 'run-done') return;
          }
          await new Promise((resolve) => setTimeout(resolve, storedEventsPollMs));
          result = await probes.get(id).catch(() => result);
        }
      });
    }
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => {
        sub.unsubscribe();
        wake?.();
      });
      const send = (event: ProbeEvent) => stream.writeSSE({ event: event.type, data: JSON.stringify(event) });
      for (const event of sub.past) await send(event);
      if (sub.done) return;
      for (;;) {
        while (queue.length) {
          const event = queue.shift()!;
          await send(event);
          if (event.type === 'run-done') {
            sub.unsubscribe();
            return;
          }
        }
        if (stream.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    });
  });

  return app;
}
