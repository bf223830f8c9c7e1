import { type InitializeAnswer, type ReinitializeResult, reinitialize } from './reinitialize.js';
import { type SealedSession, SessionSealer } from './sealedSessionId.js';

/** A request on a session heal mode issued: who the agent thinks it talks to, and where it goes. */
export interface HealedSessionRef {
  /** The id the agent holds (sealed). */
  downstreamId: string;
  sealed: SealedSession;
  /** The upstream session the request goes to now. */
  upstreamSessionId: string;
}

export interface HealerOptions {
  /** The secret sealed ids are made with (`resolveHealKey`). */
  key: string | Buffer;
  /** Upstreams with `heal: true`. */
  upstreams: Iterable<string>;
  /** Replacement sessions remembered at most (least recently used forgotten first). */
  maxSessions?: number;
}

export interface HealRequest {
  upstream: string;
  ref: HealedSessionRef;
  dispatcher: Parameters<typeof reinitialize>[0]['dispatcher'];
  path: string;
  headers: readonly string[];
  timeoutMs: number;
  observeInitialize?: (body: string) => (answer: InitializeAnswer) => void;
}

export type HealOutcome =
  | { ok: true; upstreamSessionId: string; latencyMs: number }
  | { ok: false; reason: string; latencyMs: number };

/** Initialize bodies larger than this are not sealed (the id must fit in a header). */
const MAX_INITIALIZE_BODY_BYTES = 16 * 1024;
const DEFAULT_MAX_SESSIONS = 10_000;

/**
 * Heal mode's state: which upstreams heal, the sealer, and for each healed agent session the
 * upstream session that replaced its first one. The replacement is kept in memory only: after
 * a restart (or on another replica) the sealed id still names the first upstream session, the
 * upstream refuses it as expired, and the session is healed again there: one extra
 * `initialize`, nothing stored, nothing lost.
 */
export class Healer {
  private readonly sealer: SessionSealer;
  private readonly enabled: Set<string>;
  private readonly current = new Map<string, string>();
  /** Sessions the agent ended (DELETE), so that no stream of theirs is reopened (bounded like `current`). */
  private readonly ended = new Set<string>();
  private readonly inFlight = new Map<string, Promise<HealOutcome>>();
  private readonly maxSessions: number;
  private readonly counts = new Map<string, { healed: number; failed: number }>();

  constructor(opts: HealerOptions) {
    this.sealer = new SessionSealer(opts.key);
    this.enabled = new Set(opts.upstreams);
    this.maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  heals(upstream: string): boolean {
    return this.enabled.has(upstream);
  }

  /** The session a request's `Mcp-Session-Id` names, when heal mode issued it; else null (passed through). */
  resolve(upstream: string, downstreamId: string): HealedSessionRef | null {
    if (!this.enabled.has(upstream)) return null;
    const sealed = this.sealer.open(upstream, downstreamId);
    if (sealed === null) return null;
    const replaced = this.current.get(downstreamId);
    if (replaced !== undefined) {
      // Most recently used last, so the map's first key is the one to forget.
      this.current.delete(downstreamId);
      this.current.set(downstreamId, replaced);
    }
    return { downstreamId, sealed, upstreamSessionId: replaced ?? sealed.upstreamSessionId };
  }

  /**
   * The id to give the agent for a session the upstream just opened with `initializeBody`
   * (the agent's own `initialize` request), or null to pass the upstream's id through
   * (the body is not a single `initialize` or is too large to seal).
   */
  sealNewSession(upstream: string, upstreamSessionId: string, initializeBody: Buffer | null): string | null {
    if (!this.enabled.has(upstream) || initializeBody === null) return null;
    if (initializeBody.length > MAX_INITIALIZE_BODY_BYTES) return null;
    let params: unknown;
    try {
      const msg = JSON.parse(initializeBody.toString('utf8')) as { method?: unknown; params?: unknown };
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || msg.method !== 'initialize')
        return null;
      params = msg.params ?? {};
    } catch {
      return null;
    }
    return this.sealer.seal({ upstream, upstreamSessionId, initializeParams: JSON.stringify(params) });
  }

  /** The agent ended its session (DELETE): forget its replacement, and reopen none of its streams. */
  forget(downstreamId: string): void {
    this.current.delete(downstreamId);
    this.ended.add(downstreamId);
    if (this.ended.size > this.maxSessions) {
      const oldest = this.ended.values().next().value;
      if (oldest !== undefined) this.ended.delete(oldest);
    }
  }

  /** Whether the agent ended this session here (its GET stream then ends with the upstream's). */
  hasEnded(downstreamId: string): boolean {
    return this.ended.has(downstreamId);
  }

  /**
   * Opens a replacement for `ref`'s upstream session, once: concurrent requests that met the
   * same expiry wait for the one heal and then go to its session.
   */
  heal(req: HealRequest): Promise<HealOutcome> {
    const key = req.ref.downstreamId;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    // Another request healed this session while this one was on its way: use that session.
    const now = this.current.get(key);
    if (now !== undefined && now !== req.ref.upstreamSessionId)
      return Promise.resolve({ ok: true, upstreamSessionId: now, latencyMs: 0 });
    const started = performance.now();
    const run = reinitialize({
      dispatcher: req.dispatcher,
      path: req.path,
      headers: req.headers,
      initializeParams: req.ref.sealed.initializeParams,
      timeoutMs: req.timeoutMs,
      observeInitialize: req.observeInitialize,
    })
      .then((r: ReinitializeResult): HealOutcome => {
        const latencyMs = performance.now() - started;
        const counts = this.countsFor(req.upstream);
        if (!r.ok) {
          counts.failed++;
          return { ok: false, reason: r.reason, latencyMs };
        }
        counts.healed++;
        this.remember(key, r.sessionId);
        return { ok: true, upstreamSessionId: r.sessionId, latencyMs };
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, run);
    return run;
  }

  /** Heals per upstream, for /metrics. */
  *stats(): Iterable<{ upstream: string; healed: number; failed: number }> {
    for (const [upstream, c] of this.counts) yield { upstream, ...c };
  }

  private countsFor(upstream: string): { healed: number; failed: number } {
    let c = this.counts.get(upstream);
    if (!c) {
      c = { healed: 0, failed: 0 };
      this.counts.set(upstream, c);
    }
    return c;
  }

  private remember(downstreamId: string, upstreamSessionId: string): void {
    this.current.delete(downstreamId);
    this.current.set(downstreamId, upstreamSessionId);
    if (this.current.size > this.maxSessions) {
      const oldest = this.current.keys().next().value;
      if (oldest !== undefined) this.current.delete(oldest);
    }
  }
}
