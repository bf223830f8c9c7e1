// Bounded shutdown (docs/decisions/0021-drain-and-shutdown.md): every part fits in the grace
// period, in the order that loses nothing: drain HTTP (requests on the wire finish), stop what
// produces observations, flush the recorder to the store (telemetry exports meanwhile), close
// the store, then the rest. Each part gets what is left of the grace less a reserve for the
// parts after it; a part out of time is logged and left behind, never waited for.

import { deadline, type StepLogger, withinBudget } from './deadline.js';
import type { Drain } from './drain.js';

export interface ShutdownParts {
  /** The HTTP server's drain; none when the app is mounted in a host's server (the library). */
  drain?: Drain;
  /** Ends what never ends by itself (standalone GET streams), once draining has started. */
  endStreams(): void;
  /** Stops producing observations: the tracker's sweeps, probe runs, schedules. */
  stopProducers(): Promise<void>;
  /** Writes what the recorder holds and closes it. */
  flushRecorder(): Promise<void>;
  /** Flushes and stops telemetry (an unreachable collector must not hold the exit). */
  stopTelemetry(): Promise<void>;
  closeStore(): Promise<void>;
  /** Cuts the store short when it is out of time (ends the store process). */
  abandonStore?(): void;
  /** Everything else (upstream connections, the demo upstream, retention). */
  closeRest(): Promise<void>;
}

export interface ShutdownOptions {
  graceMs: number;
  logger?: StepLogger;
  now?: () => number;
}

/** Time kept back from the drain for flushing and closing the store. */
const FLUSH_RESERVE_MS = 2500;
const STORE_RESERVE_MS = 700;
const REST_RESERVE_MS = 200;

export async function shutdown(
  parts: ShutdownParts,
  { graceMs, logger, now }: ShutdownOptions,
): Promise<void> {
  const time = deadline(graceMs, now);
  // With a short grace the drain still gets something: at most a third goes to the reserve.
  const flushReserve = Math.min(FLUSH_RESERVE_MS, graceMs / 3);
  const { drain } = parts;
  const drained = drain?.start();
  parts.endStreams();
  if (drain) {
    await withinBudget('draining connections', time.left(flushReserve), () => drained!, {
      logger,
      onTimeout: () => drain.forceClose(),
    });
  }
  await withinBudget('stopping probes', time.left(flushReserve), parts.stopProducers, { logger });
  await Promise.all([
    withinBudget('flushing the recorder', time.left(STORE_RESERVE_MS), parts.flushRecorder, { logger }),
    withinBudget('flushing telemetry', time.left(STORE_RESERVE_MS), parts.stopTelemetry, { logger }),
  ]);
  await withinBudget('closing the store', time.left(REST_RESERVE_MS), parts.closeStore, {
    logger,
    onTimeout: parts.abandonStore,
  });
  await withinBudget('closing connections to upstreams', time.left(), parts.closeRest, { logger });
}
