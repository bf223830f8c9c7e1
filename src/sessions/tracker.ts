import { hashSessionId } from '../security/hash.js';
import { redactText } from '../security/redact.js';
import { classifyOutcome } from './classify.js';
import { joinVersions, requestEra, UNSUPPORTED_PROTOCOL_VERSION } from './era.js';
import {
  type RequestEnvelope,
  type ResponseEnvelope,
  readAnsweredVersions,
  readInitializeResult,
  readRequestEnvelope,
} from './jsonrpc.js';
import type {
  ExchangeRecord,
  Observation,
  ObservationSource,
  Outcome,
  SessionEndReason,
  SessionRecord,
  TransportKind,
} from './types.js';

const EMPTY_REQUEST: RequestEnvelope = readRequestEnvelope('');

/**
 * Upstream error text as it may be stored, logged and exported: secrets redacted, and the raw
 * session id (servers like to echo it: "Session <id> not found") replaced by its hash.
 */
function storableErrorText(text: string | null, sessionId: string | null): string | null {
  if (text === null) return null;
  const scrubbed = sessionId ? text.split(sessionId).join(hashSessionId(sessionId)) : text;
  return redactText(scrubbed);
}

/** What the tracker keeps per live session. Small on purpose: memory is bounded per session. */
interface SessionState {
  record: SessionRecord;
  /** Non-GET exchanges in flight; while > 0 the idle gap of a new request is 0. */
  inFlight: number;
  /** Standalone GET streams open now. */
  streamsOpen: number;
  /** A GET stream was open at some point since the last activity. */
  streamSinceActivity: boolean;
  /**
   * The session's opening is known (seen here, or read back from the store where another process
   * saw it), so exchanges on it get a session age and a position.
   */
  openKnown: boolean;
  callerHash: string | null;
}

export interface SessionTrackerOptions {
  source?: ObservationSource;
  /** Receives every observation; must not throw (the recorder's `record`). */
  onObservation: (obs: Observation) => void;
  now?: () => number;
  /** Sessions kept in memory at most; the least recently active are evicted. */
  maxSessions?: number;
  /** Sessions not seen for this long are forgotten (not ended: we simply stop knowing). */
  evictIdleAfterMs?: number;
  /** Hook for telemetry: every finished exchange with its session state. */
  onExchange?: (
    exchange: ExchangeRecord,
    session: SessionRecord | null,
    handle: ExchangeHandle | null,
  ) => void;
  /**
   * A session id was adopted (first sight of a session this tracker did not see open: the
   * proxy restarted, or it forgot the session). The server looks it up in the store and calls
   * `restore`. `key` identifies the session to `restore`; it holds the raw id, so keep it in memory only.
   */
  onAdopt?: (key: string, record: SessionRecord) => void;
  /**
   * Replicas sharing a store: a request on a session known here but idle this long may follow
   * requests that went to another replica, so its stored row is looked up again (`onAdopt`, then
   * `restore`) and, when the row is newer, the count, last activity and idle gap follow it.
   * Unset: never (one process).
   */
  recheckIdleAfterMs?: number;
}

/** What the store knew about an adopted session (`SessionTracker.restore`). */
export interface EarlierSession {
  exchanges: number;
  openedAt?: number;
  /** False when the process that recorded the row saw the session open. */
  adopted?: boolean;
  lastActivityAt?: number;
}

/**
 * An adoption waiting for the store's answer: the exchanges begun meanwhile (with the count of this
 * process's own exchanges before each), and those finished meanwhile, held back until `restore`
 * can give the first of them its true idle gap.
 */
interface PendingAdoption {
  first: ExchangeRecord | null;
  begun: Map<ExchangeRecord, number>;
  held: ExchangeRecord[];
  /** A session this tracker knew, looked up again because another replica may have used it. */
  recheck: { exchanges: number; lastActivityAt: number } | null;
}

export interface BeginExchange {
  upstream: string;
  transport: TransportKind;
  httpMethod: string;
  /** The session id the client sent (raw; never stored). */
  sessionId: string | null;
  request: RequestEnvelope;
  callerHash?: string | null;
  protocolVersion?: string | null;
  probeRunId?: string | null;
  /**
   * Adopt an unknown session id (default). Legacy HTTP+SSE passes false for a session whose
   * stream already ended: the POST is still recorded, but no new session is invented for it.
   */
  adopt?: boolean;
}

/** A legacy HTTP+SSE session: it opens with its GET stream (docs/design.md: the session is the stream). */
export interface OpenStreamSession {
  upstream: string;
  /** Raw key of the session (the upstream's announced endpoint); never stored, only hashed. */
  sessionId: string;
  /** When the GET stream request started. */
  openedAt: number;
  callerHash?: string | null;
  probeRunId?: string | null;
}

export interface FinishExchange {
  timedOut?: boolean;
  connectionFailed?: boolean;
  /** Text of a non-2xx body or a transport error message (will be redacted by the caller). */
  errorText?: string | null;
  /** Whether the body ended normally (false: reset/aborted mid-stream). */
  aborted?: boolean;
  /** The client went away; the exchange tells nothing about the upstream. */
  clientAborted?: boolean;
  /**
   * The stream that was to carry the response (legacy HTTP+SSE: the session's GET stream)
   * ended before it did, even though the POST itself was accepted with a 202.
   */
  responseStreamEnded?: boolean;
  /** Heal mode answered the agent from a replacement session; this is how long opening it took. */
  healed?: { latencyMs: number };
}

/** Shared by every exchange whose expected answers all came: only ever read, never added to. */
const NO_IDS: Set<string> = new Set();

/** One exchange in progress, returned by `SessionTracker.begin`. */
export class ExchangeHandle {
  readonly record: ExchangeRecord;
  /**
   * Response ids still expected: null when the request expected none, the id itself for a single
   * request (no `Set` per exchange), a set for a batch. `NO_IDS` once all are answered.
   */
  private pending: Set<string> | string | null;
  private issuedSessionId: string | null = null;
  private rpcError = false;
  private rpcErrorText: string | null = null;
  private done = false;
  initializeResultText: string | null = null;
  /** A `server/discover` answer or a -32022 error, kept to read the versions it lists. */
  private versionsText: string | null = null;
  /** Telemetry's own state for this exchange (its span ids, fixed when the request leaves). */
  spanState: unknown = null;

  constructor(
    private readonly tracker: SessionTracker,
    readonly begin: BeginExchange,
    readonly state: SessionState | null,
    startedAt: number,
  ) {
    const req = begin.request;
    const ids = req.ids;
    this.pending = ids.length === 0 ? null : ids.length === 1 ? ids[0]! : new Set(ids);
    this.record = {
      upstream: begin.upstream,
      source: tracker.source,
      probeRunId: begin.probeRunId ?? null,
      transport: begin.transport,
      sessionHash: state
        ? state.record.sessionHash
        : begin.adopt === false && begin.sessionId !== null
          ? hashSessionId(begin.sessionId)
          : null,
      httpMethod: begin.httpMethod,
      rpcMethod: req.method,
      rpcCount: req.count,
      toolName: req.toolName,
      rpcId: req.id,
      startedAt,
      headersAt: null,
      responseAt: null,
      endedAt: null,
      httpStatus: null,
      outcome: 'ok',
      confidence: null,
      idleGapMs: null,
      sessionAgeMs: null,
      streamAttached: false,
      exchangesBefore: null,
      protocolVersion: begin.protocolVersion ?? req.protocolVersion ?? req.metaProtocolVersion ?? null,
      era: requestEra({
        httpMethod: begin.httpMethod,
        sessionId: begin.sessionId,
        headerVersion: begin.protocolVersion ?? null,
        request: req,
      }),
      upstreamVersions: null,
      callerHash: begin.callerHash ?? state?.callerHash ?? null,
      rpcErrorCode: null,
      errorMessage: null,
      healed: false,
      healLatencyMs: null,
    };
  }

  /** Response headers arrived. `sessionId` is the `Mcp-Session-Id` the upstream returned, if any. */
  headers(status: number, sessionId: string | null): void {
    this.record.headersAt = this.tracker.now();
    this.record.httpStatus = status;
    if (sessionId) this.issuedSessionId = sessionId;
  }

  /**
   * A JSON-RPC message seen in the response body (JSON or one SSE event). `text` is the message
   * itself, as text or UTF-8 bytes: the first answer to an `initialize` is kept for the handshake
   * details (server name, version, protocol) read when the exchange finishes.
   */
  message(env: ResponseEnvelope, text?: string | Uint8Array): void {
    if (!env.isResponse) return;
    if (text !== undefined && this.record.rpcMethod === 'initialize' && this.initializeResultText === null) {
      this.initializeResultText =
        typeof text === 'string'
          ? text
          : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
    }
    if (env.id !== null && !this.expects(env.id)) return;
    if (
      text !== undefined &&
      this.versionsText === null &&
      (this.record.rpcMethod === 'server/discover' || env.errorCode === UNSUPPORTED_PROTOCOL_VERSION)
    ) {
      this.versionsText =
        typeof text === 'string'
          ? text
          : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
    }
    if (env.hasError && !this.rpcError) {
      this.rpcError = true;
      this.record.rpcErrorCode = env.errorCode;
      this.rpcErrorText = env.errorMessage;
    }
    if (this.record.responseAt === null && (env.id === this.record.rpcId || env.id === null)) {
      this.record.responseAt = this.tracker.now();
    }
    if (env.id !== null) this.answered(env.id);
    else if (this.pending !== null) this.pending = NO_IDS;
  }

  private expects(id: string): boolean {
    const p = this.pending;
    return p === null || (typeof p === 'string' ? p === id : p.has(id));
  }

  private answered(id: string): void {
    const p = this.pending;
    if (typeof p === 'string') {
      if (p === id) this.pending = NO_IDS;
    } else p?.delete(id);
  }

  /** True once every request in the body has its response. */
  get complete(): boolean {
    const p = this.pending;
    return p === null || (typeof p !== 'string' && p.size === 0);
  }

  finish(f: FinishExchange = {}): ExchangeRecord {
    if (this.done) return this.record;
    this.done = true;
    const r = this.record;
    r.endedAt = this.tracker.now();
    const expectsResponse = this.begin.request.expectsResponse && this.begin.httpMethod === 'POST';
    const status = r.httpStatus;
    const jsonAnswer = status !== null && status >= 200 && status < 300 && status !== 202;
    let { outcome, confidence } = classifyOutcome({
      httpStatus: status,
      carriedSessionId: this.begin.sessionId !== null,
      upstreamStateless: this.tracker.isStateless(this.begin.upstream),
      rpcError: this.rpcError,
      rpcErrorCode: r.rpcErrorCode,
      errorText: this.rpcError ? this.rpcErrorText : (f.errorText ?? null),
      timedOut: f.timedOut ?? false,
      connectionFailed: f.connectionFailed ?? false,
      streamEndedEarly: (jsonAnswer || f.responseStreamEnded === true) && expectsResponse && !this.complete,
      expectsResponse,
    });
    // A client that hung up before any answer says nothing about the upstream's connection:
    // the exchange simply ended before its JSON-RPC response arrived.
    if (f.clientAborted && outcome === 'connection_error') {
      outcome = 'stream_closed';
      confidence = null;
    }
    // A `subscriptions/listen` stream lives until someone ends it: its client closing it is how
    // a subscription normally ends, not an error (its length is the measurement).
    if (
      f.clientAborted &&
      this.record.rpcMethod === 'subscriptions/listen' &&
      (status === null || (status >= 200 && status < 300))
    ) {
      outcome = 'ok';
      confidence = null;
    }
    r.upstreamVersions = this.answeredVersions(outcome);
    r.outcome = outcome;
    r.confidence = confidence;
    if (f.healed) {
      r.healed = true;
      r.healLatencyMs = f.healed.latencyMs;
    }
    if (outcome !== 'ok') {
      r.errorMessage = storableErrorText(
        (this.rpcError ? this.rpcErrorText : f.errorText) ?? null,
        this.begin.sessionId,
      );
    }
    this.tracker.finishExchange(this, outcome, f);
    return r;
  }

  /** What the answer says the upstream speaks (ExchangeRecord.upstreamVersions). */
  private answeredVersions(outcome: Outcome): string | null {
    const r = this.record;
    if (this.versionsText !== null) return joinVersions(readAnsweredVersions(this.versionsText));
    if (this.initializeResultText !== null)
      return joinVersions(readAnsweredVersions(this.initializeResultText));
    // A 2026 request answered without a version refusal ran under the version it named.
    if (r.era === '2026' && (outcome === 'ok' || outcome === 'rpc_error') && r.protocolVersion !== null) {
      return r.protocolVersion;
    }
    return null;
  }

  /** @internal */
  get issued(): string | null {
    return this.issuedSessionId;
  }
}

/**
 * Learns upstream sessions from the traffic it is shown and turns every exchange
 * into an observation with its idle gap and session age (docs/design.md definitions).
 * Pure bookkeeping: the clock and the sink are injected, no I/O.
 */
export class SessionTracker {
  readonly source: ObservationSource;
  readonly now: () => number;
  private readonly emit: (obs: Observation) => void;
  private readonly onExchange: SessionTrackerOptions['onExchange'];
  private readonly onAdopt: SessionTrackerOptions['onAdopt'];
  private readonly recheckIdleAfterMs: number | undefined;
  private readonly maxSessions: number;
  private readonly evictIdleAfterMs: number;
  /** Keyed by upstream + NUL + raw session id; insertion order is least recently active first. */
  private readonly sessions = new Map<string, SessionState>();
  private readonly stateless = new Map<string, boolean>();
  /** Adoptions whose store lookup has not answered yet, by the adopted session's record. */
  private readonly pendingAdoptions = new Map<SessionRecord, PendingAdoption>();
  private sweepTimer: NodeJS.Timeout | null = null;
  evictions = 0;

  constructor(opts: SessionTrackerOptions) {
    this.source = opts.source ?? 'proxy';
    this.emit = opts.onObservation;
    this.onExchange = opts.onExchange;
    this.onAdopt = opts.onAdopt;
    this.recheckIdleAfterMs = opts.recheckIdleAfterMs;
    this.now = opts.now ?? Date.now;
    this.maxSessions = opts.maxSessions ?? 100_000;
    this.evictIdleAfterMs = opts.evictIdleAfterMs ?? 24 * 3600_000;
  }

  get size(): number {
    return this.sessions.size;
  }

  isStateless(upstream: string): boolean {
    return this.stateless.get(upstream) === true;
  }

  /** Seed from the store, so a restart remembers stateless upstreams. */
  setStateless(upstream: string, stateless: boolean): void {
    this.stateless.set(upstream, stateless);
  }

  /** Periodically forget sessions idle past `evictIdleAfterMs`. */
  startSweeping(intervalMs = 60_000): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweep(), intervalMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.releaseAdoptions();
  }

  sweep(): void {
    const cutoff = this.now() - this.evictIdleAfterMs;
    for (const [key, s] of this.sessions) {
      if (s.record.lastActivityAt >= cutoff) break; // ordered by last activity
      if (s.inFlight > 0 || s.streamsOpen > 0) continue;
      this.evict(key, s);
    }
  }

  /**
   * Forgets a session nobody ended (no DELETE, no expiry seen: most clients just stop using
   * theirs) and says so, so that the store and `mcpprobe.sessions.active` do not count it as
   * open forever. It ended, as far as anyone saw, at its last activity.
   */
  private evict(key: string, s: SessionState): void {
    this.sessions.delete(key);
    this.evictions++;
    s.record.endedAt = s.record.lastActivityAt;
    s.record.endReason = 'evicted';
    this.emit({ type: 'session', session: { ...s.record } });
  }

  /** Session state for a raw id, or undefined. */
  lookup(upstream: string, sessionId: string): SessionRecord | undefined {
    return this.sessions.get(upstream + '\0' + sessionId)?.record;
  }

  begin(b: BeginExchange): ExchangeHandle {
    const startedAt = this.now();
    let state: SessionState | null = null;
    let idleGapMs: number | null = null;
    let adoptedNow = false;
    let rechecked: string | null = null;
    if (b.sessionId !== null) {
      const key = b.upstream + '\0' + b.sessionId;
      state = this.sessions.get(key) ?? null;
      if (state === null && b.adopt === false) {
        // Known to be over (legacy stream ended): record the exchange without a session.
      } else if (state === null) {
        state = this.adopt(key, b, startedAt);
        adoptedNow = true;
      } else {
        idleGapMs = state.inFlight > 0 ? 0 : Math.max(0, startedAt - state.record.lastActivityAt);
        if (
          this.recheckIdleAfterMs !== undefined &&
          this.onAdopt &&
          state.inFlight === 0 &&
          idleGapMs >= this.recheckIdleAfterMs &&
          !this.pendingAdoptions.has(state.record)
        ) {
          this.pendingAdoptions.set(state.record, {
            first: null,
            begun: new Map(),
            held: [],
            recheck: { exchanges: state.record.exchanges, lastActivityAt: state.record.lastActivityAt },
          });
          rechecked = key;
        }
        // Keep the map ordered by recency (cheap delete+set) for eviction.
        this.sessions.delete(key);
        this.sessions.set(key, state);
      }
    }
    const handle = new ExchangeHandle(this, b, state, startedAt);
    if (state) {
      const r = handle.record;
      r.idleGapMs = idleGapMs;
      r.sessionAgeMs = !state.openKnown || adoptedNow ? null : startedAt - state.record.openedAt;
      r.exchangesBefore = state.openKnown ? state.record.exchanges : null;
      const pending = this.onAdopt ? this.pendingAdoptions.get(state.record) : undefined;
      if (pending) {
        if (adoptedNow || rechecked !== null) pending.first = r;
        pending.begun.set(r, state.record.exchanges);
      }
      if (rechecked !== null) this.onAdopt?.(rechecked, state.record);
      r.streamAttached = state.streamsOpen > 0 || state.streamSinceActivity;
      if (b.httpMethod !== 'GET') state.inFlight++;
      if (r.protocolVersion === null) r.protocolVersion = state.record.protocolVersion;
    }
    return handle;
  }

  /** A GET stream on a session was established (2xx headers) or ended. */
  streamOpened(handle: ExchangeHandle): void {
    if (!handle.state) return;
    handle.state.streamsOpen++;
    handle.state.streamSinceActivity = true;
  }

  private adopt(key: string, b: BeginExchange, at: number): SessionState {
    const state = this.newState(b, b.sessionId!, at, true);
    this.sessions.set(key, state);
    this.enforceCap();
    if (this.onAdopt) {
      this.pendingAdoptions.set(state.record, { first: null, begun: new Map(), held: [], recheck: null });
      this.onAdopt(key, state.record);
    }
    return state;
  }

  /**
   * What an earlier process (another replica, this one before a restart, or before it forgot the
   * session) recorded about a session adopted since, or null when the store had nothing (or could
   * not answer). Called once per adoption, with the record `onAdopt` was given.
   *
   * The stored count goes on from there instead of starting again at zero; the stored opening
   * replaces the first sight here when it is earlier, and when that process saw the session open,
   * exchanges on it get their age and position again. The first exchange of this adoption gets its
   * true idle gap, from the stored last activity: it was held back until now, with any other
   * exchange that finished meanwhile. The session stays `adopted` in memory (its open was not seen
   * here, so the active-sessions metric does not count it). Emits the corrected session.
   */
  restore(key: string, record: SessionRecord, earlier: EarlierSession | null): void {
    const pending = this.pendingAdoptions.get(record);
    if (!pending) return;
    this.pendingAdoptions.delete(record);
    const recheck = pending.recheck;
    let corrected = false;
    if (recheck && earlier && (earlier.lastActivityAt ?? 0) > recheck.lastActivityAt) {
      // Another replica moved the session on since this one last saw it: follow the stored row.
      const movedOn = earlier.exchanges - recheck.exchanges;
      record.exchanges += movedOn;
      record.lastActivityAt = Math.max(record.lastActivityAt, earlier.lastActivityAt!);
      const state = this.sessions.get(key);
      for (const [x, localBefore] of pending.begun) {
        if (x === pending.first) x.idleGapMs = Math.max(0, x.startedAt - earlier.lastActivityAt!);
        if (state?.openKnown && x.exchangesBefore !== null) x.exchangesBefore = localBefore + movedOn;
      }
      corrected = true;
    } else if (!recheck && earlier && earlier.exchanges > 0) {
      const state = this.sessions.get(key);
      record.exchanges += earlier.exchanges;
      if (earlier.openedAt !== undefined && earlier.openedAt < record.openedAt) {
        record.openedAt = earlier.openedAt;
        if (earlier.adopted === false && state?.record === record) state.openKnown = true;
      }
      const openKnown = earlier.adopted === false && earlier.openedAt !== undefined;
      for (const [x, localBefore] of pending.begun) {
        if (x === pending.first && earlier.lastActivityAt !== undefined)
          x.idleGapMs = Math.max(0, x.startedAt - earlier.lastActivityAt);
        if (openKnown) {
          x.sessionAgeMs = x.startedAt - record.openedAt;
          x.exchangesBefore = earlier.exchanges + localBefore;
        }
      }
      corrected = true;
    }
    // The exchanges first, then the snapshot that counts them (as finishExchange orders them).
    for (const x of pending.held) this.emit({ type: 'exchange', exchange: x });
    if (corrected) this.emit({ type: 'session', session: { ...record } });
  }

  /** Emits whatever adoptions still wait for the store, as they are (at shutdown). */
  releaseAdoptions(): void {
    for (const [record, pending] of this.pendingAdoptions) {
      this.pendingAdoptions.delete(record);
      for (const x of pending.held) this.emit({ type: 'exchange', exchange: x });
    }
  }

  private newState(b: BeginExchange, sessionId: string, openedAt: number, adopted: boolean): SessionState {
    return {
      record: {
        upstream: b.upstream,
        source: this.source,
        sessionHash: hashSessionId(sessionId),
        transport: b.transport,
        openedAt,
        adopted,
        initLatencyMs: null,
        initializedAt: null,
        protocolVersion: b.protocolVersion ?? null,
        clientName: null,
        clientVersion: null,
        serverName: null,
        serverVersion: null,
        exchanges: 0,
        lastActivityAt: openedAt,
        endedAt: null,
        endReason: null,
      },
      inFlight: 0,
      streamsOpen: 0,
      streamSinceActivity: false,
      openKnown: !adopted,
      callerHash: b.callerHash ?? null,
    };
  }

  private enforceCap(): void {
    if (this.sessions.size <= this.maxSessions) return;
    for (const [key, s] of this.sessions) {
      if (this.sessions.size <= this.maxSessions) break;
      if (s.inFlight > 0 || s.streamsOpen > 0) continue;
      this.evict(key, s);
    }
  }

  /** @internal called by ExchangeHandle.finish */
  finishExchange(h: ExchangeHandle, outcome: Outcome, f: FinishExchange): void {
    const r = h.record;
    const end = r.endedAt ?? this.now();
    const b = h.begin;
    let state = h.state;
    // The session's snapshot goes out after the exchange it counts, so that no batch the
    // recorder commits holds a count ahead of the rows (a crash between two batches).
    let snapshot: SessionRecord | null = null;

    if (b.request.method === 'initialize' && b.sessionId === null && b.httpMethod === 'POST') {
      state = this.onInitialize(h, end);
      if (state) snapshot = { ...state.record };
    } else if (state) {
      const s = state.record;
      if (b.httpMethod === 'GET') {
        if (r.headersAt !== null && r.httpStatus !== null && r.httpStatus < 300) {
          state.streamsOpen = Math.max(0, state.streamsOpen - 1);
        }
      } else {
        state.inFlight = Math.max(0, state.inFlight - 1);
        s.exchanges++;
        s.lastActivityAt = Math.max(s.lastActivityAt, end);
        state.streamSinceActivity = state.streamsOpen > 0;
      }
      if (
        b.request.method === 'initialize' &&
        b.transport === 'sse' &&
        s.initLatencyMs === null &&
        outcome === 'ok'
      ) {
        this.onStreamSessionInitialize(h, state, end);
      }
      if (b.request.method === 'notifications/initialized' && s.initializedAt === null && outcome === 'ok') {
        s.initializedAt = end;
      }
      if (outcome === 'session_expired') snapshot = this.forget(b.upstream, b.sessionId!, 'expired', end);
      else if (b.httpMethod === 'DELETE' && r.httpStatus !== null && r.httpStatus < 300) {
        snapshot = this.forget(b.upstream, b.sessionId!, 'deleted', end);
      } else if (!f.clientAborted) snapshot = { ...s };
    }
    if (state && r.sessionHash === null) r.sessionHash = state.record.sessionHash;
    if (r.callerHash === null && state) r.callerHash = state.callerHash;
    const pending = state && this.onAdopt ? this.pendingAdoptions.get(state.record) : undefined;
    if (pending) pending.held.push(r);
    else this.emit({ type: 'exchange', exchange: r });
    if (snapshot) this.emit({ type: 'session', session: snapshot });
    this.onExchange?.(r, state?.record ?? null, h);
  }

  private onInitialize(h: ExchangeHandle, end: number): SessionState | null {
    const r = h.record;
    const b = h.begin;
    const ok = r.httpStatus !== null && r.httpStatus >= 200 && r.httpStatus < 300 && r.outcome === 'ok';
    if (!ok) return null;
    const issued = h.issued;
    if (issued === null) {
      if (this.stateless.get(b.upstream) !== true) {
        this.stateless.set(b.upstream, true);
        this.emit({ type: 'upstream-stateless', upstream: b.upstream, stateless: true });
      }
      return null;
    }
    if (this.stateless.get(b.upstream) !== false) {
      this.stateless.set(b.upstream, false);
      this.emit({ type: 'upstream-stateless', upstream: b.upstream, stateless: false });
    }
    const state = this.newState(b, issued, r.startedAt, false);
    const s = state.record;
    s.initLatencyMs = (r.responseAt ?? r.headersAt ?? end) - r.startedAt;
    s.exchanges = 1;
    s.lastActivityAt = end;
    s.clientName = b.request.clientName;
    s.clientVersion = b.request.clientVersion;
    if (h.initializeResultText) {
      // Filled by the proxy from the initialize response body (small).
      const info = readInitializeResult(h.initializeResultText);
      s.protocolVersion = info.protocolVersion ?? s.protocolVersion;
      s.serverName = info.serverName;
      s.serverVersion = info.serverVersion;
    }
    r.sessionHash = s.sessionHash;
    r.sessionAgeMs = 0;
    r.exchangesBefore = 0;
    if (s.protocolVersion) r.protocolVersion = s.protocolVersion;
    this.sessions.set(b.upstream + '\0' + issued, state);
    this.enforceCap();
    return state;
  }

  /** Legacy HTTP+SSE: the session's stream is open and its endpoint known. Starts the session. */
  openStreamSession(o: OpenStreamSession): SessionRecord {
    const key = o.upstream + '\0' + o.sessionId;
    const b: BeginExchange = {
      upstream: o.upstream,
      transport: 'sse',
      httpMethod: 'GET',
      sessionId: o.sessionId,
      request: EMPTY_REQUEST,
      callerHash: o.callerHash ?? null,
    };
    const state = this.newState(b, o.sessionId, o.openedAt, false);
    state.streamsOpen = 1;
    state.streamSinceActivity = true;
    this.sessions.set(key, state);
    this.enforceCap();
    this.emit({ type: 'session', session: { ...state.record } });
    return state.record;
  }

  /**
   * Legacy HTTP+SSE: the session's stream ended. Ended by the upstream (or the network),
   * it is the session's expiry and is recorded as a `session_expired` exchange with the
   * idle gap and age at that moment; ended by the client, the session simply closed.
   * Returns the expiry record, or null.
   */
  endStreamSession(
    upstream: string,
    sessionId: string,
    by: 'upstream' | 'client',
    errorText = 'legacy SSE stream closed by the upstream',
  ): ExchangeRecord | null {
    const key = upstream + '\0' + sessionId;
    const state = this.sessions.get(key);
    if (!state) return null;
    state.streamsOpen = Math.max(0, state.streamsOpen - 1);
    const at = this.now();
    if (by === 'client') {
      this.end(upstream, sessionId, 'stream_closed', at);
      return null;
    }
    const s = state.record;
    const record: ExchangeRecord = {
      upstream,
      source: this.source,
      probeRunId: null,
      transport: s.transport,
      sessionHash: s.sessionHash,
      httpMethod: 'GET',
      rpcMethod: null,
      rpcCount: 0,
      toolName: null,
      rpcId: null,
      startedAt: at,
      headersAt: null,
      responseAt: null,
      endedAt: at,
      httpStatus: null,
      outcome: 'session_expired',
      // The transport defines it: a legacy session lives exactly as long as its stream.
      confidence: 'spec',
      idleGapMs: state.inFlight > 0 ? 0 : Math.max(0, at - s.lastActivityAt),
      sessionAgeMs: s.adopted ? null : at - s.openedAt,
      streamAttached: true,
      exchangesBefore: s.adopted ? null : s.exchanges,
      protocolVersion: s.protocolVersion,
      era: '2025',
      upstreamVersions: null,
      callerHash: state.callerHash,
      rpcErrorCode: null,
      errorMessage: errorText,
      healed: false,
      healLatencyMs: null,
    };
    this.end(upstream, sessionId, 'expired', at);
    this.emit({ type: 'exchange', exchange: record });
    this.onExchange?.(record, s, null);
    return record;
  }

  private onStreamSessionInitialize(h: ExchangeHandle, state: SessionState, end: number): void {
    const r = h.record;
    const s = state.record;
    s.initLatencyMs = (r.responseAt ?? end) - r.startedAt;
    s.clientName = h.begin.request.clientName;
    s.clientVersion = h.begin.request.clientVersion;
    s.protocolVersion = h.begin.request.protocolVersion ?? s.protocolVersion;
    if (h.initializeResultText) {
      const info = readInitializeResult(h.initializeResultText);
      s.protocolVersion = info.protocolVersion ?? s.protocolVersion;
      s.serverName = info.serverName;
      s.serverVersion = info.serverVersion;
    }
    if (s.protocolVersion) r.protocolVersion = s.protocolVersion;
    // Legacy sessions are never stateless: the stream is the session.
    if (this.stateless.get(h.begin.upstream) !== false) {
      this.stateless.set(h.begin.upstream, false);
      this.emit({ type: 'upstream-stateless', upstream: h.begin.upstream, stateless: false });
    }
  }

  /** End a session (DELETE, expiry, stream end) and forget it. */
  end(upstream: string, sessionId: string, reason: SessionEndReason, at = this.now()): void {
    const snapshot = this.forget(upstream, sessionId, reason, at);
    if (snapshot) this.emit({ type: 'session', session: snapshot });
  }

  /** Ends a session and returns its last snapshot, for the caller to emit (null when unknown). */
  private forget(
    upstream: string,
    sessionId: string,
    reason: SessionEndReason,
    at: number,
  ): SessionRecord | null {
    const key = upstream + '\0' + sessionId;
    const state = this.sessions.get(key);
    if (!state) return null;
    this.sessions.delete(key);
    state.record.endedAt = at;
    state.record.endReason = reason;
    return { ...state.record };
  }
}
