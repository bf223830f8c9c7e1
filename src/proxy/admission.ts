// A circuit breaker in Envoy's sense: a cap on the requests in flight to one upstream. Past the
// cap a request waits for nothing: it is answered 503 with Retry-After at once, and counted.
// Without it a hung upstream collects every agent's request until each one times out.

export interface Admission {
  /** Takes a slot; false (and counted as a rejection) when all `limit` slots are taken. */
  tryEnter(): boolean;
  /** Gives a slot back (once per successful `tryEnter`). */
  leave(): void;
  readonly inFlight: number;
  readonly limit: number;
  /** Requests turned away since start. */
  readonly rejected: number;
}

export function createAdmission(limit: number): Admission {
  let inFlight = 0;
  let rejected = 0;
  return {
    tryEnter() {
      if (inFlight >= limit) {
        rejected++;
        return false;
      }
      inFlight++;
      return true;
    },
    leave() {
      if (inFlight > 0) inFlight--;
    },
    get inFlight() {
      return inFlight;
    },
    limit,
    get rejected() {
      return rejected;
    },
  };
}

/** Seconds a client is asked to wait before retrying a request turned away by the breaker. */
export const RETRY_AFTER_SECONDS = 1;
