import type { Confidence, Outcome } from './types.js';

/** Everything the classifier needs to know about one exchange. Pure data, no I/O. */
export interface ExchangeFacts {
  /** HTTP status, or null when no response headers arrived. */
  httpStatus: number | null;
  /** The request carried a session id the upstream issued (or one we adopted). */
  carriedSessionId: boolean;
  /** The upstream is known to issue no session ids. */
  upstreamStateless?: boolean;
  /** The JSON-RPC response to the request carried an `error` member. */
  rpcError?: boolean;
  /** Its code, when numeric. */
  rpcErrorCode?: number | null;
  /** JSON-RPC error message, or the start of a non-2xx body. */
  errorText?: string | null;
  /** No response (headers) within the configured timeout. */
  timedOut?: boolean;
  /** Refused, reset, DNS or TLS failure before a response. */
  connectionFailed?: boolean;
  /** The body ended before the JSON-RPC response to the request arrived. */
  streamEndedEarly?: boolean;
  /** The request expects a JSON-RPC response (it is a request, not only notifications/responses). */
  expectsResponse?: boolean;
}

export interface Classification {
  outcome: Outcome;
  confidence: Confidence | null;
}

// Bodies the SDKs and popular servers send when they do not know a session id.
const SESSION_ERROR_PATTERNS: readonly RegExp[] = [
  /no valid session/i,
  /session (?:id )?not found/i,
  /unknown session/i,
  /no transport found for session/i,
  /invalid or expired session/i,
  /session (?:has been |was )?(?:terminated|expired|closed)/i,
  /server not initialized/i,
  /(?:missing|invalid|unknown) (?:mcp[- ])?session[- ]?id/i,
  /session[- ]?id (?:is )?(?:missing|invalid|unknown|required)/i,
];

/** Spec revision 2026-07-28: 404 carrying "method not found" is not a session error. */
const METHOD_NOT_FOUND = -32601;

export function looksLikeSessionError(text: string | null | undefined): boolean {
  if (!text) return false;
  for (const pattern of SESSION_ERROR_PATTERNS) if (pattern.test(text)) return true;
  return false;
}

/** docs/contract.md outcome table, in one place. */
export function classifyOutcome(facts: ExchangeFacts): Classification {
  if (facts.connectionFailed) return { outcome: 'connection_error', confidence: null };
  if (facts.timedOut) return { outcome: 'timeout', confidence: null };
  const status = facts.httpStatus;
  if (status === null) return { outcome: 'connection_error', confidence: null };

  const sessionAware = facts.carriedSessionId && !facts.upstreamStateless;
  if (status >= 200 && status < 300) {
    if (facts.rpcError) {
      // Some servers answer a forgotten session with 200 and a JSON-RPC error.
      if (sessionAware && looksLikeSessionError(facts.errorText)) {
        return { outcome: 'session_expired', confidence: 'heuristic' };
      }
      return { outcome: 'rpc_error', confidence: null };
    }
    if (facts.streamEndedEarly && facts.expectsResponse)
      return { outcome: 'stream_closed', confidence: null };
    return { outcome: 'ok', confidence: null };
  }
  if (status === 404 && sessionAware && facts.rpcErrorCode !== METHOD_NOT_FOUND) {
    return { outcome: 'session_expired', confidence: 'spec' };
  }
  if ((status === 400 || status === 401) && sessionAware && looksLikeSessionError(facts.errorText)) {
    return { outcome: 'session_expired', confidence: 'heuristic' };
  }
  if (status === 401 || status === 403) return { outcome: 'auth', confidence: null };
  if (status === 429) return { outcome: 'rate_limited', confidence: null };
  if (status === 503) return { outcome: 'capacity', confidence: null };
  return { outcome: 'http_error', confidence: null };
}
