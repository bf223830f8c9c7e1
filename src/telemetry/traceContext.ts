// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
// parsing and formatting, pure. The proxy does this itself rather than through the
// global propagator so the hot path touches no global state.
import { type SpanContext, TraceFlags } from '@opentelemetry/api';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** A remote parent from a `traceparent` value, or null when it is absent or malformed. */
export function parseTraceparent(value: string | null | undefined): SpanContext | null {
  if (!value || value.length > 512) return null;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  // Version ff is invalid; version 00 allows nothing after the flags.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: Number.parseInt(flags!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
}

export function formatTraceparent(ctx: SpanContext): string {
  const flags = (ctx.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
  return `00-${ctx.traceId}-${ctx.spanId}-${flags}`;
}

/**
 * The opt-in `telemetry.injectMeta`: a JSON-RPC body with `params._meta.traceparent` (SEP-414)
 * set on every request and notification that does not carry one, for upstreams that read trace
 * context from the message rather than the HTTP header. Returns null when nothing changes (not
 * JSON, nothing to annotate), so the original bytes are forwarded untouched.
 */
export function injectMetaTraceparent(body: string, traceparent: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  let changed = false;
  for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
    if (message === null || typeof message !== 'object' || typeof message.method !== 'string') continue;
    const params = message.params ?? {};
    if (params === null || typeof params !== 'object' || Array.isArray(params)) continue;
    const meta = params._meta ?? {};
    if (meta === null || typeof meta !== 'object' || typeof meta.traceparent === 'string') continue;
    message.params = { ...params, _meta: { ...meta, traceparent } };
    changed = true;
  }
  return changed ? JSON.stringify(parsed) : null;
}
