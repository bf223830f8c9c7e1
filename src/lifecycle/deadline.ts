// Shutdown steps that each get what is left of the grace period, and never more.

export interface StepLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export type StepOutcome = 'done' | 'failed' | 'timed_out';

/**
 * Runs `step` for at most `budgetMs` (never below zero): resolves with how it ended and never
 * throws. A step that runs out of time is left behind (its promise is ignored), and `onTimeout`
 * may cut it short (kill a child process, destroy sockets).
 */
export async function withinBudget(
  name: string,
  budgetMs: number,
  step: () => Promise<unknown>,
  { logger, onTimeout }: { logger?: StepLogger; onTimeout?: () => void } = {},
): Promise<StepOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed_out'>((resolve) => {
    timer = setTimeout(() => resolve('timed_out'), Math.max(0, budgetMs));
    timer.unref();
  });
  const ran = Promise.resolve()
    .then(step)
    .then(
      () => 'done' as const,
      (err: unknown) => {
        logger?.warn(`shutdown: ${name} failed`, { err });
        return 'failed' as const;
      },
    );
  const outcome = await Promise.race([ran, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timed_out') {
    logger?.warn(
      `shutdown: ${name} did not finish within ${Math.max(0, Math.round(budgetMs))} ms; going on without it`,
    );
    try {
      onTimeout?.();
    } catch {
      // Cutting a step short is best effort.
    }
  }
  return outcome;
}

/** A deadline `graceMs` from now: how much of it is left, less a reserve for what comes after. */
export function deadline(graceMs: number, now: () => number = Date.now) {
  const end = now() + graceMs;
  return {
    /** Milliseconds left, keeping `reserveMs` back for the steps after this one. */
    left: (reserveMs = 0) => Math.max(0, end - now() - reserveMs),
  };
}
