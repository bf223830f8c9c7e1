// The recorder sits between the request path and the store. `record` only
// appends to memory; a timer writes batches in the background. A failing store
// (read-only file, lock, full disk) never reaches the request path: observations
// wait in the queue, bounded by `maxQueue`, and are retried with backoff.

import type { Observation } from '../sessions/types.js';
import type { ObservationStore } from './types.js';

export interface Logger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
}

export interface RecorderOptions {
  store: Pick<ObservationStore, 'write'>;
  flushIntervalMs?: number;
  maxBatch?: number;
  maxQueue?: number;
  /** Backoff after a failed write doubles from `flushIntervalMs` up to this. */
  maxBackoffMs?: number;
  logger?: Logger;
}

export interface RecorderStats {
  /** Observations waiting to be written. */
  queued: number;
  written: number;
  /** Dropped because the queue was full (oldest first), or rejected by the store as invalid. */
  dropped: number;
  /** Session snapshots replaced in the queue by a newer snapshot of the same session (never lost data). */
  coalesced: number;
  /** Failed write attempts. */
  failures: number;
  lastError: string | null;
  /** True while the store is failing (between the first failure of a burst and the recovery). */
  failing: boolean;
}

export interface Recorder {
  /** Synchronous, O(1), never throws, never touches the store. */
  record(obs: Observation): void;
  /** Writes everything queued now. Resolves even when the store fails (see `stats()`). */
  flush(): Promise<void>;
  /** Flushes what it can and stops the timer; later records are dropped. */
  close(): Promise<void>;
  stats(): RecorderStats;
}

const silentLogger: Logger = { warn() {}, info() {} };

export function createRecorder({
  store,
  flushIntervalMs = 50,
  maxBatch = 1000,
  maxQueue = 100_000,
  maxBackoffMs = 30_000,
  logger = silentLogger,
}: RecorderOptions): Recorder {
  const queue = new ObservationQueue();
  let written = 0;
  let dropped = 0;
  let coalesced = 0;
  let failures = 0;
  let lastError: string | null = null;
  let failing = false;
  let burst = { failures: 0, dropped: 0 };
  let backoffMs = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  // While a write is in flight its batch is still at the head of the queue; if
  // overflow drops those oldest entries meanwhile, fewer remain to remove.
  let inFlight = false;
  let droppedInFlight = 0;
  // Writes are serialized: the timer and flush() share this chain.
  let chain: Promise<unknown> = Promise.resolve();

  function schedule(delayMs: number): void {
    if (timer !== null || closed || queue.size === 0) return;
    timer = setTimeout(onTimer, delayMs);
    timer.unref();
  }

  function onTimer(): void {
    timer = null;
    void exclusive(async () => {
      const ok = await writeOne();
      if (ok) backoffMs = 0;
      else
        backoffMs = Math.min(maxBackoffMs, Math.max(flushIntervalMs, 10) * 2 ** Math.min(burst.failures, 20));
      // More than one batch waiting: keep going without waiting a full interval.
      schedule(ok ? (queue.size >= maxBatch ? 0 : flushIntervalMs) : backoffMs);
    });
  }

  function exclusive(fn: () => Promise<void>): Promise<void> {
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  }

  /** Writes the oldest batch; true on success (or nothing to write). Never throws. */
  async function writeOne(): Promise<boolean> {
    const batch = queue.peek(maxBatch);
    if (batch.length === 0) return true;
    inFlight = true;
    droppedInFlight = 0;
    try {
      await store.write(batch);
      written += batch.length;
      queue.remove(batch.length - droppedInFlight);
      onSuccess();
      return true;
    } catch (err) {
      if (isRejectedBatch(err)) {
        // Bad data, not a bad store: retrying would block the queue forever.
        // Write the batch one by one and drop only what the store refuses.
        const pending = batch.slice(droppedInFlight);
        queue.remove(pending.length);
        await writeIndividually(pending, err);
        return true;
      }
      onFailure(err);
      return false;
    } finally {
      inFlight = false;
    }
  }

  async function writeIndividually(batch: readonly Observation[], firstErr: unknown): Promise<void> {
    let rejected = 0;
    for (const obs of batch) {
      try {
        await store.write([obs]);
        written += 1;
      } catch {
        rejected += 1;
      }
    }
    dropped += rejected;
    lastError = describe(firstErr);
    logger.warn('recorder: store rejected observations as invalid; dropped them', {
      rejected,
      error: lastError,
    });
  }

  function onSuccess(): void {
    if (!failing) return;
    failing = false;
    logger.info('recorder: store recovered; recording resumed', {
      failedAttempts: burst.failures,
      dropped: burst.dropped,
      queued: queue.size,
    });
    burst = { failures: 0, dropped: 0 };
  }

  function onFailure(err: unknown): void {
    failures += 1;
    burst.failures += 1;
    lastError = describe(err);
    if (failing) return;
    failing = true;
    logger.warn('recorder: store write failed; keeping observations in memory and retrying', {
      error: lastError,
      queued: queue.size,
      maxQueue,
    });
  }

  function flush(): Promise<void> {
    return exclusive(async () => {
      while (queue.size > 0) {
        if (!(await writeOne())) return;
      }
    });
  }

  return {
    record(obs) {
      try {
        if (closed) {
          dropped += 1;
          return;
        }
        if (!queue.push(obs)) {
          coalesced += 1;
          schedule(failing ? backoffMs : flushIntervalMs);
          return;
        }
        if (queue.size > maxQueue) {
          queue.remove(1);
          dropped += 1;
          burst.dropped += 1;
          if (inFlight) droppedInFlight += 1;
        }
        schedule(failing ? backoffMs : flushIntervalMs);
      } catch {
        // Recording must never break the request path.
      }
    },

    flush,

    async close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      await flush();
      if (queue.size > 0) {
        logger.warn('recorder: closed with observations the store did not accept', {
          unwritten: queue.size,
          error: lastError,
        });
      }
    },

    stats() {
      return { queued: queue.size, written, dropped, coalesced, failures, lastError, failing };
    },
  };
}

/**
 * Errors that mean "this data can never be written" rather than "the store is
 * unavailable". SQLite constraint/type errors; Postgres classes 22 and 23.
 */
function isRejectedBatch(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code) || /^2[23][0-9A-Z]{3}$/.test(code);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * FIFO with O(1) amortized push and removal from the head. Session observations are
 * full snapshots (the tracker emits one after every exchange), so a newer snapshot of a
 * session replaces the one still waiting instead of queuing a second upsert: under load
 * a batch carries one session row per active session, not one per request.
 */
class ObservationQueue {
  private items: Observation[] = [];
  private head = 0;
  /**
   * Absolute index of the waiting snapshot of each session hash. Keyed by the hash alone, which the
   * tracker hands over as the same string every time (its hash code is computed once), so no key is
   * built per snapshot; the upstream and source are compared at the index. Two sessions sharing a
   * hash (different upstreams or sources) just stop coalescing with each other: correct, only fuller.
   */
  private sessionAt = new Map<string, number>();
  /** Items below this index were handed out by `peek` (a write in flight): never replaced. */
  private sealed = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  /** Appends, or replaces a waiting snapshot of the same session; false when it replaced. */
  push(obs: Observation): boolean {
    if (obs.type === 'session') {
      const s = obs.session;
      const at = this.sessionAt.get(s.sessionHash);
      if (at !== undefined && at >= this.head && at >= this.sealed) {
        const waiting = (this.items[at] as Extract<Observation, { type: 'session' }>).session;
        if (waiting.upstream === s.upstream && waiting.source === s.source) {
          this.items[at] = obs;
          return false;
        }
      }
      this.sessionAt.set(s.sessionHash, this.items.length);
    }
    this.items.push(obs);
    return true;
  }

  peek(n: number): Observation[] {
    const batch = this.items.slice(this.head, this.head + n);
    this.sealed = this.head + batch.length;
    return batch;
  }

  remove(n: number): void {
    this.head = Math.min(this.items.length, this.head + Math.max(0, n));
    // Compact once the dead prefix dominates, keeping removal amortized O(1).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.sealed = Math.max(0, this.sealed - this.head);
      this.head = 0;
      // Indexes moved: forget them (later snapshots simply queue again).
      this.sessionAt.clear();
    } else if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      this.sealed = 0;
      this.sessionAt.clear();
    }
  }
}
