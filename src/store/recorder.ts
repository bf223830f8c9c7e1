// The recorder sits between the request path and the store. `record` only
// appends to memory; a timer writes batches in the background. A failing store
// (read-only file, lock, full disk) never reaches the request path: observations
// wait in the queue, bounded by `maxQueue`, and are retried with a backoff capped at
// `maxBackoffMs` (a second by default), so that recording resumes about a second after
// the store does and nothing waiting is dropped that the queue had room for.

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
  /**
   * Backoff after a failed write doubles from `flushIntervalMs` up to this. A retry is cheap
   * (one failed transaction), and a long backoff only delays recovery while the queue fills.
   */
  maxBackoffMs?: number;
  logger?: Logger;
}

export interface RecorderStats {
  /** Observations waiting to be written. */
  queued: number;
  written: number;
  /** Dropped because the queue was full (oldest not in flight first), or rejected by the store as invalid. */
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
  maxBackoffMs = 1_000,
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
    const { batch, span } = queue.peek(maxBatch);
    if (batch.length === 0) {
      queue.remove(span);
      return true;
    }
    try {
      await store.write(batch);
      written += batch.length;
      queue.remove(span);
      onSuccess();
      return true;
    } catch (err) {
      if (isRejectedBatch(err)) {
        // Bad data, not a bad store: retrying would block the queue forever.
        // Write the batch one by one and drop only what the store refuses.
        queue.remove(span);
        await writeIndividually(batch, err);
        return true;
      }
      queue.unseal();
      onFailure(err);
      return false;
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
        if (queue.size > maxQueue && queue.dropOldest()) {
          dropped += 1;
          burst.dropped += 1;
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
 * a batch carries one session row per active session, not one per request. The newer
 * snapshot goes to the end of the queue, behind the exchanges it counts, and the older one
 * leaves a hole: a batch then never commits a session's count ahead of its exchange rows.
 *
 * Removed and dropped observations are unreferenced at once (their slot becomes a hole), so
 * the memory held is what `size` says; holes are compacted away once they dominate.
 */
class ObservationQueue {
  private slots: Array<Observation | undefined> = [];
  private head = 0;
  /** Slots below this index were handed out by `peek` (a write in flight): never replaced or dropped. */
  private sealed = 0;
  /** Observations held (slots that are not holes). */
  private live = 0;
  /** No observation lives in [sealed, dropFrom): where the search for the oldest droppable one starts. */
  private dropFrom = 0;
  /**
   * Index of the waiting snapshot of each session hash. Keyed by the hash alone, which the
   * tracker hands over as the same string every time (its hash code is computed once), so no key is
   * built per snapshot; the upstream and source are compared at the index. Two sessions sharing a
   * hash (different upstreams or sources) just stop coalescing with each other: correct, only fuller.
   */
  private sessionAt = new Map<string, number>();

  get size(): number {
    return this.live;
  }

  /** Appends; false when it replaced a waiting snapshot of the same session. */
  push(obs: Observation): boolean {
    let replaced = false;
    if (obs.type === 'session') {
      const s = obs.session;
      const at = this.sessionAt.get(s.sessionHash);
      if (at !== undefined && at >= this.sealed) {
        const waiting = this.slots[at];
        if (
          waiting?.type === 'session' &&
          waiting.session.upstream === s.upstream &&
          waiting.session.source === s.source
        ) {
          this.slots[at] = undefined;
          this.live -= 1;
          replaced = true;
        }
      }
      this.sessionAt.set(s.sessionHash, this.slots.length);
    }
    this.slots.push(obs);
    this.live += 1;
    this.compactIfHollow();
    return !replaced;
  }

  /** The oldest `n` observations, sealed until `remove` or `unseal`; `span` is the slots they took. */
  peek(n: number): { batch: Observation[]; span: number } {
    const batch: Observation[] = [];
    let i = this.head;
    while (i < this.slots.length && batch.length < n) {
      const obs = this.slots[i++];
      if (obs !== undefined) batch.push(obs);
    }
    this.sealed = i;
    return { batch, span: i - this.head };
  }

  /** Removes the `span` slots a `peek` handed out (written, or refused for good). */
  remove(span: number): void {
    const end = Math.min(this.slots.length, this.head + span);
    for (let i = this.head; i < end; i++) {
      if (this.slots[i] !== undefined) {
        this.slots[i] = undefined;
        this.live -= 1;
      }
    }
    this.head = end;
    this.sealed = Math.max(this.sealed, end);
    this.unseal();
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = this.sealed = this.dropFrom = 0;
      this.sessionAt.clear();
    } else this.compactIfHollow();
  }

  /** A write failed: its batch may be replaced (newer snapshots) or dropped again. */
  unseal(): void {
    this.sealed = this.head;
    this.dropFrom = Math.min(this.dropFrom, this.head);
  }

  /** Drops the oldest observation that is not in a write in flight; false when there is none. */
  dropOldest(): boolean {
    let i = Math.max(this.dropFrom, this.sealed);
    while (i < this.slots.length && this.slots[i] === undefined) i++;
    if (i >= this.slots.length) return false;
    const obs = this.slots[i]!;
    this.slots[i] = undefined;
    this.live -= 1;
    if (obs.type === 'session' && this.sessionAt.get(obs.session.sessionHash) === i) {
      this.sessionAt.delete(obs.session.sessionHash);
    }
    this.dropFrom = i + 1;
    this.compactIfHollow();
    return true;
  }

  /** Rebuilds the slots without holes once they are most of the array (amortized O(1)). */
  private compactIfHollow(): void {
    const dead = this.slots.length - this.live;
    if (dead < 1024 || dead * 2 < this.slots.length) return;
    // The sealed slots keep their layout: the write in flight removes exactly its span.
    const next = this.slots.slice(this.head, this.sealed);
    const sealed = next.length;
    this.sessionAt.clear();
    for (let i = this.sealed; i < this.slots.length; i++) {
      const obs = this.slots[i];
      if (obs === undefined) continue;
      if (obs.type === 'session') this.sessionAt.set(obs.session.sessionHash, next.length);
      next.push(obs);
    }
    this.slots = next;
    this.head = 0;
    this.sealed = sealed;
    this.dropFrom = sealed;
  }
}
