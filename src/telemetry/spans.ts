import { randomBytes } from 'node:crypto';
import {
  type Attributes,
  type Context,
  type HrTime,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type InstrumentationScope, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SpanProcessor,
  type TimedEvent,
} from '@opentelemetry/sdk-trace-base';
import { redactText } from '../security/redact.js';
import type { ExchangeRecord, SessionRecord } from '../sessions/types.js';
import * as sc from './semconv.js';
import { formatTraceparent, parseTraceparent } from './traceContext.js';

export interface UpstreamAddress {
  address: string;
  port: number;
}

export interface SpanRecorderOptions {
  /** Probe-run spans (a few per run) go through the SDK tracer... */
  tracer: Tracer;
  /**
   * ...while the per-request exchange spans are built here as finished `ReadableSpan`s and
   * handed straight to the same processors (see `ExchangeSpan`).
   */
  processors: readonly SpanProcessor[];
  /**
   * The tracer provider's sampler (`OTEL_TRACES_SAMPLER`), or null for the default,
   * parent-based always-on: a span is sampled when it has no parent or a sampled one. That
   * decision is then made here, without the sampler's context lookups and result objects.
   */
  sampler: Sampler | null;
  resource: Resource;
  scope: InstrumentationScope;
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

/** An exchange in flight (the tracker's `ExchangeHandle`): its record, and a slot for its span's ids. */
export interface SpanHolder {
  readonly record: ExchangeRecord;
  spanState: unknown;
}

export interface SpanRecorder {
  /**
   * Starts the span of an exchange that is about to be forwarded (the only span kept open
   * during a request, because its id must travel upstream) and returns the `traceparent`
   * to send. The span ends in `exchangeFinished` with the record's own timestamps.
   */
  requestStarted(exchange: SpanHolder, incoming: IncomingTraceContext): string | null;
  /** A standalone GET stream was established: its short open span ends here. */
  streamOpened(exchange: SpanHolder): void;
  /**
   * Every finished exchange (the tracker's `onExchange`). `exchange` is null for exchanges the
   * tracker made up (a legacy session's stream ending): they were never forwarded.
   */
  exchangeFinished(record: ExchangeRecord, session: SessionRecord | null, exchange: SpanHolder | null): void;
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
  if (r.healed) {
    a[sc.ATTR_HEALED] = true;
    if (r.healLatencyMs !== null) a[sc.ATTR_HEAL_LATENCY] = seconds(r.healLatencyMs);
  }
  if (r.rpcMethod === 'initialize' && session) {
    if (session.clientName) a[sc.ATTR_CLIENT_NAME] = session.clientName;
    if (session.clientVersion) a[sc.ATTR_CLIENT_VERSION] = session.clientVersion;
    if (session.serverName) a[sc.ATTR_SERVER_NAME] = session.serverName;
    if (session.serverVersion) a[sc.ATTR_SERVER_VERSION] = session.serverVersion;
    if (session.initLatencyMs !== null) a[sc.ATTR_INIT_LATENCY] = seconds(session.initLatencyMs);
  }
  return a;
}

const OK_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET }) as SpanStatus;
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];

function errorStatus(errorType: string, message: string | null): SpanStatus {
  return {
    code: SpanStatusCode.ERROR,
    message: message ? redactText(message, { maxLength: 256 }) : errorType,
  };
}

function setError(span: Span, errorType: string, message: string | null): void {
  span.setAttribute(sc.ATTR_ERROR_TYPE, errorType);
  span.setStatus(errorStatus(errorType, message));
}

/** What every exchange span of one recorder shares. */
interface SpanSite {
  resource: Resource;
  scope: InstrumentationScope;
  upstreamAddress?: (upstream: string) => UpstreamAddress | undefined;
}

/**
 * A finished exchange span, built once the exchange is over and handed to the span processors
 * as the `ReadableSpan` they export. Why not the SDK's `Span`: a proxied request only needs its
 * ids up front (for `traceparent`); the SDK span kept open for the request, validated and copied
 * each of its ~20 attributes and held two clocks, which made tracing the largest cost of a
 * request (about 25-30 µs in `npm run bench`). Attributes are derived from the exchange record
 * when an exporter first reads them, then kept.
 *
 * A batch processor holds every span until its batch leaves (512 spans, or 5 s), which under
 * load outlives a young-generation GC or two: what a span holds is promoted to the old space and
 * marked again by every full GC. So it holds as little as it can: its times are the record's
 * (the `HrTime` pairs are made when an exporter reads them), constants on the prototype, ids cut
 * from a shared pool (`IdPool`). About 800 → 580 bytes retained per span, record included.
 */
class ExchangeSpan implements ReadableSpan {
  private attrs: Attributes | null = null;

  constructor(
    readonly name: string,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    /** Null: the record's `endedAt` (most spans); else the span's own end. */
    private readonly end: number | null,
    /** A point in time at its end (the stream close span), not a span from the record's start. */
    private readonly instant: boolean,
    readonly status: SpanStatus,
    readonly events: TimedEvent[],
    private readonly site: SpanSite,
    private readonly record: ExchangeRecord,
    private readonly session: SessionRecord | null,
    private readonly extra: Attributes | null,
  ) {}

  get kind(): SpanKind {
    return SpanKind.CLIENT;
  }
  get links(): Link[] {
    return NO_LINKS;
  }
  get ended(): boolean {
    return true;
  }
  get droppedAttributesCount(): number {
    return 0;
  }
  get droppedEventsCount(): number {
    return 0;
  }
  get droppedLinksCount(): number {
    return 0;
  }
  private get endMs(): number {
    return this.end ?? this.record.endedAt ?? this.record.startedAt;
  }
  private get startMs(): number {
    return this.instant ? this.endMs : this.record.startedAt;
  }
  get startTime(): HrTime {
    return millisToHrTime(this.startMs);
  }
  get endTime(): HrTime {
    return millisToHrTime(this.endMs);
  }
  get duration(): HrTime {
    return millisToHrTime(Math.max(0, this.endMs - this.startMs));
  }

  spanContext(): SpanContext {
    return this.context;
  }

  get resource(): Resource {
    return this.site.resource;
  }

  get instrumentationScope(): InstrumentationScope {
    return this.site.scope;
  }

  get attributes(): Attributes {
    if (this.attrs === null) {
      const r = this.record;
      const a = exchangeAttributes(r, this.session, this.site.upstreamAddress?.(r.upstream));
      if (this.extra) Object.assign(a, this.extra);
      this.attrs = a;
    }
    return this.attrs;
  }
}

/**
 * Random trace and span ids (lowercase hex, never all zeros), cut from one string of
 * crypto-random hex made 4 KiB of randomness at a time. Each id is a slice of that string: no
 * copy and no `Buffer` call per id, where the SDK's `RandomIdGenerator` fills a buffer and
 * hex-encodes it for each id (two per request). A slice keeps its pool string alive (8 KiB for about 170
 * requests' ids) until the last span that uses it is exported.
 */
export class IdPool {
  private hex = '';
  private at = 0;

  constructor(
    private readonly bytes = 4096,
    private readonly random: (size: number) => Buffer = randomBytes,
  ) {}

  traceId(): string {
    return this.take(32);
  }

  spanId(): string {
    return this.take(16);
  }

  private take(chars: number): string {
    for (;;) {
      if (this.at + chars > this.hex.length) {
        this.hex = this.random(this.bytes).toString('hex');
        this.at = 0;
      }
      const id = this.hex.slice(this.at, this.at + chars);
      this.at += chars;
      // W3C trace context: an all-zero id is invalid (one in 2^64 at least).
      if (!ZERO_ID.startsWith(id)) return id;
    }
  }
}

const ZERO_ID = '0'.repeat(32);

/** Ids and sampling of an exchange, fixed when the request leaves (its span id travels upstream). */
interface OpenExchange {
  context: SpanContext;
  parent: SpanContext | undefined;
  /** The GET stream's open span was already emitted (streamOpened). */
  openEmitted: boolean;
}

/**
 * Turns finished exchange records into spans with explicit start/end times, so nothing is
 * held open during a request: only the ids (and the sampling decision) are fixed when the
 * request is forwarded, so that `traceparent` can name the proxy's span. GET streams become
 * two short spans (open, close), never one that lasts for hours.
 */
export function createSpanRecorder(opts: SpanRecorderOptions): SpanRecorder {
  const { tracer, processors, sampler } = opts;
  const site: SpanSite = {
    resource: opts.resource,
    scope: opts.scope,
    upstreamAddress: opts.upstreamAddress,
  };
  const ids = new IdPool();
  /** Root spans of running probes by run id + upstream, so their exchanges become children. */
  const probeRuns = new Map<string, Span>();
  const runKey = (runId: string, upstream: string) => `${runId}\0${upstream}`;

  const probeParent = (r: ExchangeRecord): SpanContext | undefined =>
    r.probeRunId ? probeRuns.get(runKey(r.probeRunId, r.upstream))?.spanContext() : undefined;

  /** New span ids under `parent` (or a new trace), sampled as the SDK tracer would. */
  const begin = (r: ExchangeRecord, parent: SpanContext | undefined): OpenExchange => {
    const traceId = parent?.traceId ?? ids.traceId();
    if (sampler === null) {
      const sampled = parent === undefined || (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
      return {
        context: {
          traceId,
          spanId: ids.spanId(),
          traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
        },
        parent,
        openEmitted: false,
      };
    }
    const parentCtx: Context = parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
    const decision = sampler.shouldSample(
      parentCtx,
      traceId,
      exchangeSpanName(r),
      SpanKind.CLIENT,
      {},
      NO_LINKS,
    );
    const sampled = decision.decision === SamplingDecision.RECORD_AND_SAMPLED;
    const context: SpanContext = {
      traceId,
      spanId: ids.spanId(),
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    };
    if (decision.traceState) context.traceState = decision.traceState;
    return { context, parent, openEmitted: false };
  };

  const emit = (span: ExchangeSpan): void => {
    for (const p of processors) {
      try {
        p.onEnd(span);
      } catch {
        // A processor's failure is the exporter's problem, never the request's.
      }
    }
  };

  const sampled = (o: OpenExchange) => (o.context.traceFlags & TraceFlags.SAMPLED) !== 0;

  /** The span of the exchange itself (the ids sent upstream), from its start to `endMs`. */
  const emitExchangeSpan = (
    r: ExchangeRecord,
    o: OpenExchange,
    endMs: number,
    status: SpanStatus,
    events: TimedEvent[],
    session: SessionRecord | null,
  ): void =>
    emit(
      new ExchangeSpan(
        exchangeSpanName(r),
        o.context,
        o.parent,
        endMs === r.endedAt ? null : endMs,
        false,
        status,
        events,
        site,
        r,
        session,
        null,
      ),
    );

  const emitStreamOpen = (r: ExchangeRecord, o: OpenExchange): void => {
    o.openEmitted = true;
    if (!sampled(o)) return;
    emitExchangeSpan(r, o, r.headersAt ?? r.endedAt ?? Date.now(), OK_STATUS, NO_EVENTS, null);
  };

  return {
    requestStarted(exchange, incoming) {
      const r = exchange.record;
      const parent = r.probeRunId
        ? probeParent(r)
        : (parseTraceparent(incoming.metaTraceparent) ?? parseTraceparent(incoming.traceparent) ?? undefined);
      const o = begin(r, parent);
      exchange.spanState = o;
      return formatTraceparent(o.context);
    },

    streamOpened(exchange) {
      const o = exchange.spanState as OpenExchange | null;
      const r = exchange.record;
      if (!o || r.httpMethod !== 'GET' || o.openEmitted) return;
      emitStreamOpen(r, o);
    },

    exchangeFinished(r, session, exchange) {
      let o = (exchange?.spanState as OpenExchange | null | undefined) ?? null;
      if (exchange) exchange.spanState = null;
      o ??= begin(r, probeParent(r));
      const end = r.endedAt ?? Date.now();
      const errorType = errorTypeOf(r);
      const streamEstablished =
        r.httpMethod === 'GET' && r.headersAt !== null && r.httpStatus !== null && r.httpStatus < 300;
      if (streamEstablished) {
        // The open span ended in streamOpened (or now, if that hook was not wired); the close is
        // its own short span so the stream's lifetime is an attribute, not a span length.
        if (!o.openEmitted) emitStreamOpen(r, o);
        if (!sampled(o)) return;
        const close: SpanContext = { ...o.context, spanId: ids.spanId() };
        emit(
          new ExchangeSpan(
            sc.SPAN_STREAM_CLOSE,
            close,
            // A child of the (ended) open span: same trace, and the pair reads as one stream.
            o.context,
            end === r.endedAt ? null : end,
            true,
            errorType && r.outcome !== 'stream_closed' ? errorStatus(errorType, r.errorMessage) : OK_STATUS,
            NO_EVENTS,
            site,
            r,
            session,
            { [sc.ATTR_STREAM_DURATION]: seconds(end - (r.headersAt ?? r.startedAt)) },
          ),
        );
        return;
      }
      if (!sampled(o)) return;
      const events: TimedEvent[] =
        r.outcome === 'session_expired'
          ? [
              {
                name: sc.EVENT_SESSION_EXPIRED,
                time: millisToHrTime(r.headersAt ?? end),
                attributes: {
                  [sc.ATTR_IDLE_GAP]: r.idleGapMs === null ? -1 : seconds(r.idleGapMs),
                  [sc.ATTR_SESSION_AGE]: r.sessionAgeMs === null ? -1 : seconds(r.sessionAgeMs),
                },
                droppedAttributesCount: 0,
              },
            ]
          : NO_EVENTS;
      emitExchangeSpan(
        r,
        o,
        end,
        errorType ? errorStatus(errorType, r.errorMessage) : OK_STATUS,
        events,
        session,
      );
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
