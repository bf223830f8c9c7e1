/**
 * When the proxy reopens an agent's standalone GET stream upstream, and when it gives up.
 *
 * On a healing session the agent's GET stream outlives the upstream's: when the upstream stream
 * ends or breaks (a restart, an expiry, a server that closes streams on purpose) the proxy keeps
 * the agent's stream open and opens a new one upstream, on the current or a replacement session.
 * The SDK clients would try again by themselves only twice, 1 s and 2.5 s after the end, and then
 * stop listening for good; the proxy keeps trying for as long as the upstream's `timeoutSeconds`.
 */

/** An upstream stream that stayed open this long was a working stream: the next end starts afresh. */
export const STABLE_STREAM_MS = 1000;
/** Waits between attempts that failed in a row: 250 ms, doubling, at most 2 s. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;

export interface ReopenScheduleOptions {
  /** How long attempts may keep failing in a row before the agent's stream is ended. */
  budgetMs: number;
  now?: () => number;
}

export class ReopenSchedule {
  private readonly budgetMs: number;
  private readonly now: () => number;
  /** Attempts in a row that gave no lasting stream. */
  private failures = 0;
  /** When the current run of failures began (null: no failure since the last working stream). */
  private failingSince: number | null = null;
  /** When the current upstream stream opened (null: none open). */
  private openedAt: number | null = null;
  /** A replacement session was opened in the current run: one heal per run, never a heal loop. */
  private healedInRun = false;

  constructor(opts: ReopenScheduleOptions) {
    this.budgetMs = opts.budgetMs;
    this.now = opts.now ?? (() => performance.now());
  }

  /** An upstream stream is open and relayed to the agent. */
  opened(): void {
    this.openedAt = this.now();
  }

  /** Whether a session error met while reopening may still be healed (one heal per run of failures). */
  mayHeal(): boolean {
    return !this.healedInRun;
  }

  healed(): void {
    this.healedInRun = true;
  }

  /**
   * The upstream stream ended or broke, or an attempt to reopen it failed: the milliseconds to
   * wait before the next attempt, or null to end the agent's stream (its client reconnects by
   * itself if it still can).
   */
  next(): number | null {
    const t = this.now();
    const lasted = this.openedAt !== null && t - this.openedAt >= STABLE_STREAM_MS;
    this.openedAt = null;
    if (lasted) {
      this.failures = 0;
      this.failingSince = null;
      this.healedInRun = false;
      return 0;
    }
    this.failingSince ??= t;
    if (t - this.failingSince >= this.budgetMs) return null;
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.failures, MAX_RETRY_MS);
    this.failures++;
    return delay;
  }
}
