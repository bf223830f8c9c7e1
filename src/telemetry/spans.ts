import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { redactText } from '../security/redact.js';
import type { ExchangeRecord, SessionRecord } from '../sessions/types.js';
import * as sc from './semconv.js';
import { formatTraceparent, parseTraceparent } from './traceContext.js';

export interface UpstreamAddress {
  address: string;
  port: number;
}

export interface SpanRecorderOptions {
  tracer: Tracer;
  /** `server.address` / `server.port` of an upstream id (from the config). */
  upstreamAddress?: (upstream: string) => UpstreamAddress | undefined;
}

/** Incoming W3C trace context of one request: the HTTP header and SEP-414 `params._meta.traceparent`. */
export interface IncomingTraceContext {
  traceparent: string | null;
  metaTraceparent: string | null;
}

export interface ProbeRunOptions {
  upstream: string;
  mode: string;
  runId?: string | null;
  startedAt?: number;
}

export interface ProbeStep {
  /** e.g. `initialize`, `tools/list`, `idle 30s`. */
  name: string;
  startedAt: number;
  endedAt: number;
  /** Short description when the step failed; becomes `error.type` + ERROR status. */
  errorType?: string | null;
  errorMessage?: string | null;
  idleTargetSeconds?: number | null;
  attributes?: Attributes;
}

/**
 * One upstream's part of a probe run: a root span `mcpprobe.probe {upstream}` with a child per
 * step. Exchanges recorded with the same probe run id and upstream become children too.
 */
export interface ProbeRunSpan {
  /** `traceparent` of the run, for requests the prober sends itself. */
  readonly traceparent: string;
  step(step: ProbeStep): void;
  end(result?: { endedAt?: number; errorType?: string | null; errorMessage?: string | null }): void;
}

export interface SpanRecorder {
  /**
   * Starts the span of an exchange that is about to be forwarded (the only span kept open
   * during a request, because its id must travel upstream) and returns the `traceparent`
   * to send. The span ends in `exchangeFinished` with the record's own timestamps.
   */
  requestStarted(record: ExchangeRecord, incoming: IncomingTraceContext): string | null;
  /** A standalone GET stream was established: its short open span ends here. */
  streamOpened(record: ExchangeRecord): void;
  /** Every finished exchange (the tracker's `onExchange`). */
  exchangeFinished(record: ExchangeRecord, session: SessionRecord | null): void;
  probeRun(opts: ProbeRunOptions): ProbeRunSpan;
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/** `{mcp.method.name} {target}` per the MCP semconv; GET/DELETE carry no JSON-RPC method. */
export function exchangeSpanName(r: Pick<ExchangeRecord, 'rpcMethod' | 'toolName' | 'httpMethod'>): string {
  if (r.rpcMethod) return r.toolName ? `${r.rpcMethod} ${r.toolName}` : r.rpcMethod;
  if (r.httpMethod === 'GET') return sc.SPAN_STREAM_OPEN;
  if (r.httpMethod === 'DELETE') return sc.SPAN_SESSION_DELETE;
  return r.httpMethod;
}

/** `error.type` for a failed exchange: the JSON-RPC code for an rpc_error (semconv), else the outcome label. */
export function errorTypeOf(r: Pick<ExchangeRecord, 'outcome' | 'rpcErrorCode'>): string | null {
  if (r.outcome === 'ok') return null;
  if (r.outcome === 'rpc_error' && r.rpcErrorCode !== null) return String(r.rpcErrorCode);
  return r.outcome;
}

/** Span attributes of a finished exchange. Pure; session ids only as the tracker's hash. */
export function exchangeAttributes(
  r: ExchangeRecord,
  session: SessionRecord | null,
  address?: UpstreamAddress,
): Attributes {
  const a: Attributes = {
    [sc.ATTR_UPSTREAM]: r.upstream,
    [sc.ATTR_SOURCE]: r.source,
    [sc.ATTR_OUTCOME]: r.outcome,
    [sc.ATTR_NETWORK_TRANSPORT]: 'tcp',
    [sc.ATTR_NETWORK_PROTOCOL_NAME]: 'http',
    [sc.ATTR_HTTP_REQUEST_METHOD]: r.httpMethod,
    [sc.ATTR_STREAM_ATTACHED]: r.streamAttached,
  };
  if (r.rpcMethod) a[sc.ATTR_MCP_METHOD_NAME] = r.rpcMethod;
  if (r.rpcId !== null) a[sc.ATTR_JSONRPC_REQUEST_ID] = r.rpcId;
  if (r.sessionHash) a[sc.ATTR_MCP_SESSION_ID] = r.sessionHash;
  if (r.protocolVersion) a[sc.ATTR_MCP_PROTOCOL_VERSION] = r.protocolVersion;
  if (r.rpcMethod === 'tools/call' && r.toolName) {
    a[sc.ATTR_GEN_AI_TOOL_NAME] = r.toolName;
    a[sc.ATTR_GEN_AI_OPERATION_NAME] = sc.GEN_AI_OPERATION_EXECUTE_TOOL;
  }
  if (address) {
    a[sc.ATTR_SERVER_ADDRESS] = address.address;
    a[sc.ATTR_SERVER_PORT] = address.port;
  }
  if (r.httpStatus !== null) a[sc.ATTR_HTTP_RESPONSE_STATUS_CODE] = r.httpStatus;
  if (r.rpcErrorCode !== null) a[sc.ATTR_RPC_RESPONSE_STATUS_CODE] = String(r.rpcErrorCode);
  const errorType = errorTypeOf(r);
  if (errorType) a[sc.ATTR_ERROR_TYPE] = errorType;
  if (r.confidence) a[sc.ATTR_OUTCOME_CONFIDENCE] = r.confidence;
  if (r.idleGapMs !== null) a[sc.ATTR_IDLE_GAP] = seconds(r.idleGapMs);
  if (r.sessionAgeMs !== null) a[sc.ATTR_SESSION_AGE] = seconds(r.sessionAgeMs);
  if (r.exchangesBefore !== null) a[sc.ATTR_EXCHANGES_BEFORE] = r.exchangesBefore;
  if (r.probeRunId) a[sc.ATTR_PROBE_RUN_ID] = r.probeRunId;
  if (r.rpcMethod === 'initialize' && session) {
    if (session.clientName) a[sc.ATTR_CLIENT_NAME] = session.clientName;
    if (session.clientVersion) a[sc.ATTR_CLIENT_VERSION] = session.clientVersion;
    if (session.serverName) a[sc.ATTR_SERVER_NAME] = session.serverName;
    if (session.serverVersion) a[sc.ATTR_SERVER_VERSION] = session.serverVersion;
    if (session.initLatencyMs !== null) a[sc.ATTR_INIT_LATENCY] = seconds(session.initLatencyMs);
  }
  return a;
}

function parentContext(incoming: IncomingTraceContext): Context {
  // SEP-414: the per-message `_meta.traceparent` is more specific than a connection-level header.
  const parent = parseTraceparent(incoming.metaTraceparent) ?? parseTraceparent(incoming.traceparent);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

function setError(span: Span, errorType: string, message: string | null): void {
  span.setAttribute(sc.ATTR_ERROR_TYPE, errorType);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: message ? redactText(message, { maxLength: 256 }) : errorType,
  });
}

interface OpenExchange {
  span: Span;
  parent: Context;
}

/**
 * Turns finished exchange records into spans with explicit start/end times, so
 * nothing is held open during a request except the span whose id is forwarded
 * upstream in `traceparent`. GET streams become two short spans (open, close),
 * never one that lasts for hours.
 */
export function createSpanRecorder({ tracer, upstreamAddress }: SpanRecorderOptions): SpanRecorder {
  const open = new WeakMap<ExchangeRecord, OpenExchange>();
  /** Root spans of running probes by run id + upstream, so their exchanges become children. */
  const probeRuns = new Map<string, Span>();
  const runKey = (runId: string, upstream: string) => `${runId}\0${upstream}`;

  const start = (r: ExchangeRecord, parent: Context): Span =>
    tracer.startSpan(exchangeSpanName(r), { kind: SpanKind.CLIENT, startTime: r.startedAt }, parent);

  const probeParent = (r: ExchangeRecord): Context => {
    const run = r.probeRunId ? probeRuns.get(runKey(r.probeRunId, r.upstream)) : undefined;
    return run ? trace.setSpan(ROOT_CONTEXT, run) : ROOT_CONTEXT;
  };

  return {
    requestStarted(r, incoming) {
      const parent = r.probeRunId ? probeParent(r) : parentContext(incoming);
      const span = start(r, parent);
      open.set(r, { span, parent });
      return formatTraceparent(span.spanContext());
    },

    streamOpened(r) {
      const o = open.get(r);
      if (!o || r.httpMethod !== 'GET') return;
      o.span.setAttributes(exchangeAttributes(r, null, upstreamAddress?.(r.upstream)));
      o.span.end(r.headersAt ?? undefined);
    },

    exchangeFinished(r, session) {
      let o = open.get(r);
      open.delete(r);
      if (!o) {
        const parent = probeParent(r);
        o = { span: start(r, parent), parent };
      }
      const attrs = exchangeAttributes(r, session, upstreamAddress?.(r.upstream));
      const span = o.span;
      const end = r.endedAt ?? Date.now();
      const streamEstablished =
        r.httpMethod === 'GET' && r.headersAt !== null && r.httpStatus !== null && r.httpStatus < 300;
      if (r.httpMethod === 'GET' && streamEstablished) {
        // The open span ended in streamOpened (or ends now if that hook was not wired);
        // the close is its own short span so the stream's lifetime is an attribute, not a span length.
        if (span.isRecording()) span.end(r.headersAt ?? end);
        // A child of the (ended) open span: same trace, and the pair reads as one stream.
        const close = tracer.startSpan(
          sc.SPAN_STREAM_CLOSE,
          { kind: SpanKind.CLIENT, startTime: end, attributes: attrs },
          trace.setSpan(o.parent, span),
        );
        close.setAttribute(sc.ATTR_STREAM_DURATION, seconds(end - (r.headersAt ?? r.startedAt)));
        const errorType = errorTypeOf(r);
        if (errorType && r.outcome !== 'stream_closed') setError(close, errorType, r.errorMessage);
        close.end(end);
        return;
      }
      span.setAttributes(attrs);
      const errorType = errorTypeOf(r);
      if (errorType) setError(span, errorType, r.errorMessage);
      if (r.outcome === 'session_expired') {
        span.addEvent(
          sc.EVENT_SESSION_EXPIRED,
          {
            [sc.ATTR_IDLE_GAP]: r.idleGapMs === null ? -1 : seconds(r.idleGapMs),
            [sc.ATTR_SESSION_AGE]: r.sessionAgeMs === null ? -1 : seconds(r.sessionAgeMs),
          },
          r.headersAt ?? end,
        );
      }
      span.end(end);
    },

    probeRun({ upstream, mode, runId, startedAt }) {
      const root = tracer.startSpan(
        `${sc.SPAN_PROBE_PREFIX} ${upstream}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: startedAt ?? Date.now(),
          attributes: {
            [sc.ATTR_UPSTREAM]: upstream,
            [sc.ATTR_SOURCE]: 'probe',
            [sc.ATTR_PROBE_MODE]: mode,
            ...(runId ? { [sc.ATTR_PROBE_RUN_ID]: runId } : {}),
          },
        },
        ROOT_CONTEXT,
      );
      if (runId) probeRuns.set(runKey(runId, upstream), root);
      const rootCtx = trace.setSpan(ROOT_CONTEXT, root);
      let ended = false;
      return {
        traceparent: formatTraceparent(root.spanContext()),
        step(s) {
          const span = tracer.startSpan(
            s.name,
            {
              kind: SpanKind.INTERNAL,
              startTime: s.startedAt,
              attributes: {
                [sc.ATTR_UPSTREAM]: upstream,
                [sc.ATTR_SOURCE]: 'probe',
                [sc.ATTR_PROBE_MODE]: mode,
                [sc.ATTR_PROBE_STEP]: s.name,
                ...(s.idleTargetSeconds != null ? { [sc.ATTR_PROBE_IDLE_TARGET]: s.idleTargetSeconds } : {}),
                ...s.attributes,
              },
            },
            rootCtx,
          );
          if (s.errorType) setError(span, s.errorType, s.errorMessage ?? null);
          span.end(s.endedAt);
        },
        end(result = {}) {
          if (ended) return;
          ended = true;
          if (runId) probeRuns.delete(runKey(runId, upstream));
          if (result.errorType) setError(root, result.errorType, result.errorMessage ?? null);
          root.end(result.endedAt ?? Date.now());
        },
      };
    },
  };
}

export type { SpanContext };
