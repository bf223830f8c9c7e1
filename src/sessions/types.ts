// The observation model (docs/design.md "Observations"). Every producer (the proxy's
// tracker, the prober) emits these records; the store, telemetry and analysis
// consume them. Times are epoch milliseconds; durations are milliseconds.
import type { Era } from './era.js';

/** Outcome classes: contract labels from docs/contract.md. */
export const OUTCOMES = [
  'ok',
  'rpc_error',
  'session_expired',
  'auth',
  'rate_limited',
  'capacity',
  'http_error',
  'timeout',
  'connection_error',
  'stream_closed',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `spec` for a 404 on a known session, `heuristic` for a 400/401 whose body says so. */
export type Confidence = 'spec' | 'heuristic';

/** Who produced the observation: agent traffic through the proxy, or the active prober. */
export type ObservationSource = 'proxy' | 'probe';

export type TransportKind = 'streamable-http' | 'sse';

export type SessionEndReason = 'deleted' | 'expired' | 'evicted' | 'stream_closed' | 'probe_closed';

/** One HTTP request to the upstream on behalf of one session. */
export interface ExchangeRecord {
  upstream: string;
  source: ObservationSource;
  /** Probe run id when source is `probe`. */
  probeRunId: string | null;
  transport: TransportKind;
  /** Hash of the upstream-issued session id; null before a session exists or when stateless. */
  sessionHash: string | null;
  httpMethod: string;
  /** JSON-RPC method of the (first) message; `notifications/...` included; null for GET/DELETE. */
  rpcMethod: string | null;
  /** Number of JSON-RPC messages in the body (batches > 1). */
  rpcCount: number;
  /** `params.name` for `tools/call`. */
  toolName: string | null;
  /** JSON-RPC id of the (first) request, as a string. */
  rpcId: string | null;
  startedAt: number;
  headersAt: number | null;
  /** When the JSON-RPC response to rpcId was seen (JSON body end or the SSE event). */
  responseAt: number | null;
  endedAt: number | null;
  httpStatus: number | null;
  outcome: Outcome;
  confidence: Confidence | null;
  /** docs/design.md idle gap; null when unknown (first sight of an adopted session, no session). */
  idleGapMs: number | null;
  /** Time since the session opened; null when unknown (adopted). */
  sessionAgeMs: number | null;
  /** Whether a standalone GET stream was attached during the idle period before this request. */
  streamAttached: boolean;
  /** Exchanges on this session before this one (null when unknown). */
  exchangesBefore: number | null;
  /** MCP-Protocol-Version sent or negotiated (2026 era: the request's `_meta` version). */
  protocolVersion: string | null;
  /**
   * The era the request speaks (`sessions/era.ts`): `2025` (sessions, `initialize`) or `2026`
   * (sessionless); null when nothing in the request tells.
   */
  era: Era | null;
  /**
   * Versions the upstream's answer says it speaks, comma-separated: an `initialize` result's
   * version, a `server/discover` result's `supportedVersions`, a -32022 error's `supported`
   * list, or the version of a 2026 request it answered. Null when the answer said none.
   */
  upstreamVersions: string | null;
  /** Keyed hash identifying the caller (credential or address); never the credential itself. */
  callerHash: string | null;
  /** JSON-RPC error code when one was seen. */
  rpcErrorCode: number | null;
  /** Short, redacted description of what went wrong. */
  errorMessage: string | null;
  /** Heal mode answered the agent from a replacement session after this exchange's session error. */
  healed: boolean;
  /** How long opening the replacement session took (ms); null unless healed. */
  healLatencyMs: number | null;
}

/** The lifetime of one upstream session as the tracker (or prober) saw it. */
export interface SessionRecord {
  upstream: string;
  source: ObservationSource;
  sessionHash: string;
  transport: TransportKind;
  /** When the `initialize` request started; for adopted sessions, first sight. */
  openedAt: number;
  /** True when first seen mid-life (age unknown). */
  adopted: boolean;
  /** `initialize` round trip. */
  initLatencyMs: number | null;
  /** When `notifications/initialized` completed. */
  initializedAt: number | null;
  protocolVersion: string | null;
  clientName: string | null;
  clientVersion: string | null;
  serverName: string | null;
  serverVersion: string | null;
  exchanges: number;
  lastActivityAt: number;
  endedAt: number | null;
  endReason: SessionEndReason | null;
}

/** What the recorder accepts. Discriminated so one queue carries all kinds. */
export type Observation =
  | { type: 'exchange'; exchange: ExchangeRecord }
  | { type: 'session'; session: SessionRecord }
  | { type: 'upstream-stateless'; upstream: string; stateless: boolean };
