// The probe result JSON (docs/contract.md "Probe result JSON", contract field names) and the
// progress events of a run. Seconds with millisecond precision throughout.
import type { ProbeCredentialReport } from '../auth/authorizer.js';
import type { ProbeMode } from '../config/schema.js';
import type { Outcome } from '../sessions/types.js';
import type { SearchPhase, SearchStopReason } from './search.js';
import type { SearchResultJson } from './searchProbe.js';
import type { SessionlessProbeResult } from './sessionless.js';
import type { IdleWindow } from './window.js';

export type ProbeStatus = 'running' | 'done' | 'failed' | 'cancelled';

/** The warning a legacy HTTP+SSE upstream's result carries: what its checkpoints measured. */
export const STREAM_LIFETIME_NOTE =
  'legacy HTTP+SSE: the session is its stream, so the idle checkpoints measured stream lifetime (how long an idle stream stays open)';

export interface Checkpoint {
  /** The idle gap asked for (ladder: the offset from the first call, as the original script labelled it). */
  idleSecondsTarget: number;
  /** From the `initialize` request of the session to this call. */
  elapsedSinceOpenSeconds: number | null;
  /** The real idle gap: from the end of the previous exchange on the session to this call. */
  elapsedSinceLastCallSeconds: number | null;
  success: boolean;
  latencySeconds: number | null;
  toolsReturned: number | null;
  /** docs/contract.md outcome label; null on success. */
  errorType: Outcome | null;
  errorMessage: string | null;
  httpStatus: number | null;
  /** A standalone GET stream was held open during the idle period. */
  streamAttached: boolean;
  /** `open` when the session could not even be opened (the gap was never tested). */
  failedAt: 'open' | 'checkpoint' | null;
  /** Bisect round (0 = the initial fanout); null in other modes. */
  round: number | null;
}

export interface KeepaliveResult {
  intervalSeconds: number;
  /** How long the session went without a tool call, pinging every `intervalSeconds`. */
  idleSeconds: number;
  pings: number;
  pingFailures: number;
  /** The `tools/list` after the idle period succeeded: pings keep sessions alive. */
  keptAlive: boolean;
  errorType: Outcome | null;
  errorMessage: string | null;
}

export interface ControlRequestResult {
  httpStatus: number | null;
  outcome: Outcome;
  /** The made-up session id was served as if it were real. */
  accepted: boolean;
}

export interface UpstreamProbeResult {
  upstream: string;
  initLatencySeconds: number | null;
  firstCallLatencySeconds: number | null;
  sessionIssued: boolean | null;
  protocolVersion: string | null;
  checkpoints: Checkpoint[];
  fatalError: string | null;
  /** TCP (+TLS) connect time. */
  connectSeconds: number | null;
  initializedLatencySeconds: number | null;
  warmCallLatencySeconds: number | null;
  toolsReturned: number | null;
  serverName: string | null;
  serverVersion: string | null;
  /** No session id issued: no idle lifetime, checkpoints skipped. */
  stateless: boolean | null;
  /** What a fresh session per call costs: initialize + initialized + one tools/list. */
  perCallCostSeconds: number | null;
  /** true: DELETE answered 2xx; false: 405 (or other refusal); null: not tried. */
  deleteSupported: boolean | null;
  deleteHttpStatus: number | null;
  controlRequest: ControlRequestResult | null;
  /** false when the control request was accepted: survivals then prove nothing. */
  validatesSessionIds: boolean | null;
  holdStream: boolean;
  window: IdleWindow | null;
  keepalive: KeepaliveResult | null;
  /** How the `search` mode went (null in other modes): its window, phases, sessions and checks. */
  search: SearchResultJson | null;
  /**
   * The busy companion of fanout and bisect: a session kept active with pings for as long as
   * the longest idle gap, beside the idle ones. It separates an idle timeout (it lives on)
   * from a maximum session age (it dies at that age however busy). Optional: older results lack it.
   */
  busySession?: BusySessionResult | null;
  /** Things a reader must know (stateless, ids not validated, ...). */
  warnings: string[];
  /**
   * The OAuth credential the probe used (each token's announced lifetime, refreshes, and
   * `authRequired` when no usable token could be had); null with static headers or none.
   */
  credential?: ProbeCredentialReport | null;
  /**
   * docs/design.md "Two eras of the protocol": `sessions` (2025 sessions only), `sessionless` (2026-07-28 requests or
   * a 2025 server that issues no session id), `both`, or `unknown` (neither answered).
   */
  sessionModel: 'sessions' | 'sessionless' | 'both' | 'unknown';
  /** The sessionless era's answer to `server/discover` and what a sessionless call costs. */
  sessionless: SessionlessProbeResult | null;
}

export interface BusySessionResult {
  pingIntervalSeconds: number;
  pings: number;
  /** Age of the session at its last answered request. */
  aliveToAgeSeconds: number | null;
  /** Lived through the longest idle gap (and a last tools/list after it). */
  survived: boolean;
  /** Its first failure (`session_expired` at an age: a maximum age). */
  errorType: string | null;
}

export interface ProbeOptionsJson {
  holdStream: boolean;
  keepaliveSeconds: number | null;
  timeoutSeconds: number | null;
  budget: number;
  minWindowSeconds: number;
  /** `search`: the largest idle gap it tests (absent in runs saved before the mode existed). */
  maxIdleSeconds?: number;
}

export interface ProbeResult {
  id: string;
  status: ProbeStatus;
  startedAt: string;
  elapsedSeconds: number;
  mode: ProbeMode;
  intervals: number[];
  options: ProbeOptionsJson;
  results: UpstreamProbeResult[];
  fatalError: string | null;
}

interface EventBase {
  /** Seconds since the run started. */
  t: number;
  upstream: string;
}

/** One event per step of a run (SSE at /api/probes/:id/events, progress lines in the CLI). */
export type ProbeEvent =
  | (EventBase & {
      type: 'opened';
      sessionIssued: boolean;
      initLatencySeconds: number | null;
      firstCallLatencySeconds: number | null;
      toolsReturned: number | null;
      protocolVersion: string | null;
    })
  | (EventBase & { type: 'control'; validatesSessionIds: boolean | null; httpStatus: number | null })
  | (EventBase & { type: 'waiting'; idleSecondsTarget: number; untilSeconds: number })
  | (EventBase & { type: 'checkpoint'; checkpoint: Checkpoint })
  | (EventBase & { type: 'keepalive'; keepalive: KeepaliveResult })
  /** `search`: the window as it narrows, and each change of phase. */
  | (EventBase & {
      type: 'search';
      phase: SearchPhase;
      stopReason: SearchStopReason | null;
      lowerSeconds: number | null;
      upperSeconds: number | null;
      overlapping: boolean;
      widthSeconds: number | null;
      /** Sessions the search opened so far (the baseline session not counted). */
      sessionsOpened: number;
      checks: number;
      /** Survivals above expiries: the upstream sweeps (`search.sweep` in the result). */
      sweepDetected: boolean;
      /** The lower edge holds for a timer and for sweeps at least this often; null: any sweeper. */
      lowerHoldsForPeriodUpToSeconds: number | null;
    })
  | (EventBase & { type: 'upstream-done'; fatalError: string | null; warnings: string[] })
  | { type: 'run-done'; t: number; status: ProbeStatus };

export function seconds(ms: number | null | undefined): number | null {
  return ms === null || ms === undefined ? null : Math.round(ms) / 1000;
}

export function emptyUpstreamResult(upstream: string, holdStream: boolean): UpstreamProbeResult {
  return {
    upstream,
    initLatencySeconds: null,
    firstCallLatencySeconds: null,
    sessionIssued: null,
    protocolVersion: null,
    checkpoints: [],
    fatalError: null,
    connectSeconds: null,
    initializedLatencySeconds: null,
    warmCallLatencySeconds: null,
    toolsReturned: null,
    serverName: null,
    serverVersion: null,
    stateless: null,
    perCallCostSeconds: null,
    deleteSupported: null,
    deleteHttpStatus: null,
    controlRequest: null,
    validatesSessionIds: null,
    holdStream,
    window: null,
    keepalive: null,
    search: null,
    busySession: null,
    warnings: [],
    credential: null,
    sessionModel: 'unknown',
    sessionless: null,
  };
}
