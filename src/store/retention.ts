// `storage.retentionDays`: old observations are deleted in the background, at start and then
// hourly, in chunks with the event loop free between them, so that a first prune of a large
// database never stalls the proxy for long. A failing prune is logged and tried again later.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from './recorder.js';
import type { ObservationStore, PruneCounts } from './types.js';

export interface RetentionOptions {
  store: Pick<ObservationStore, 'prune'>;
  retentionDays: number;
  now?: () => number;
  logger?: Logger;
  intervalMs?: number;
  /** Rows of each kind per chunk (one transaction each). */
  chunkRows?: number;
}

export interface Retention {
  /** Prunes everything older than the retention now; resolves with what went. Never throws. */
  runOnce(): Promise<PruneCounts>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

export function startRetention({
  store,
  retentionDays,
  now = Date.now,
  logger,
  intervalMs = 3_600_000,
  chunkRows = 1_000,
}: RetentionOptions): Retention {
  let stopped = false;
  let running: Promise<PruneCounts> | null = null;

  async function prune(): Promise<PruneCounts> {
    const before = now() - retentionDays * DAY_MS;
    const total: PruneCounts = { exchanges: 0, sessions: 0, probeRuns: 0, credentials: 0 };
    try {
      while (!stopped) {
        const n = await store.prune(before, chunkRows);
        total.exchanges += n.exchanges;
        total.sessions += n.sessions;
        total.probeRuns += n.probeRuns;
        total.credentials += n.credentials;
        if (Object.values(n).every((count) => count < chunkRows)) break;
        await yieldToEventLoop();
      }
      if (Object.values(total).some((count) => count > 0))
        logger?.info('storage: deleted observations older than the retention', {
          retentionDays,
          before: new Date(before).toISOString(),
          ...total,
        });
    } catch (err) {
      logger?.warn('storage: pruning old observations failed; will try again', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
    return total;
  }

  function runOnce(): Promise<PruneCounts> {
    // One prune at a time: a timer firing during a long first prune joins it.
    running ??= prune().finally(() => {
      running = null;
    });
    return running;
  }

  const first = setTimeout(() => void runOnce(), 0);
  const timer = setInterval(() => void runOnce(), intervalMs);
  first.unref();
  timer.unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
