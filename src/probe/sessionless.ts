// The probe's first step on every streamable-HTTP upstream: does it speak the sessionless era
// (MCP 2026-07-28, docs/eras.md)? `server/discover` with the per-request `_meta` envelope; a
// -32022 answer lists the versions the upstream does support (one corrective retry when that
// list names a sessionless version this prober speaks); anything else means the 2025 era only,
// and the `initialize` handshake follows as before. Where the upstream does speak it, one
// `tools/list` measures what a sessionless call costs: no handshake, no session.
import { eraOfVersion, FIRST_SESSIONLESS_VERSION, UNSUPPORTED_PROTOCOL_VERSION } from '../sessions/era.js';
import { PROTOCOL_VERSION_META_KEY, readAnsweredVersions } from '../sessions/jsonrpc.js';
import { seconds } from './result.js';
import { PROBE_CLIENT_INFO, toolsReturned } from './session.js';
import type { ExchangeResult, ProbeWire } from './wire.js';

/** Sessionless revisions this prober can speak, newest first. */
export const SESSIONLESS_VERSIONS: readonly string[] = [FIRST_SESSIONLESS_VERSION];

export interface SessionlessProbeResult {
  /** The upstream served `server/discover` in the 2026 envelope. */
  supported: boolean;
  /** The revision the probe spoke (null when unsupported). */
  protocolVersion: string | null;
  /** Every version the upstream listed (discover result or -32022 `supported`). */
  supportedVersions: string[];
  /** `server/discover` round trip: a client may cache its answer. */
  discoverLatencySeconds: number | null;
  /** One `tools/list` with the envelope: the whole cost of a sessionless call. */
  callLatencySeconds: number | null;
  toolsReturned: number | null;
  /** What the upstream answered when it does not speak it: outcome, HTTP status, JSON-RPC code. */
  refusal: { outcome: string; httpStatus: number | null; rpcErrorCode: number | null } | null;
}

/** The `_meta` envelope that replaces the handshake on every 2026 request. */
export function envelope(version: string): Record<string, unknown> {
  return {
    [PROTOCOL_VERSION_META_KEY]: version,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': PROBE_CLIENT_INFO,
  };
}

function post(
  wire: ProbeWire,
  method: 'server/discover' | 'tools/list',
  version: string,
): Promise<ExchangeResult> {
  return wire.post(
    { method, params: { _meta: envelope(version) } },
    { protocolVersion: version, extraHeaders: { 'mcp-method': method } },
  );
}

function versionsOf(answer: ExchangeResult): string[] {
  if (answer.result) return readAnsweredVersions(JSON.stringify({ result: answer.result }));
  return answer.record.upstreamVersions?.split(',') ?? [];
}

export async function probeSessionless(wire: ProbeWire): Promise<SessionlessProbeResult> {
  const result: SessionlessProbeResult = {
    supported: false,
    protocolVersion: null,
    supportedVersions: [],
    discoverLatencySeconds: null,
    callLatencySeconds: null,
    toolsReturned: null,
    refusal: null,
  };
  let version = SESSIONLESS_VERSIONS[0]!;
  let discover = await post(wire, 'server/discover', version);
  if (discover.record.rpcErrorCode === UNSUPPORTED_PROTOCOL_VERSION) {
    // The spec's corrective step: pick a listed version both sides speak, once.
    const listed = versionsOf(discover);
    result.supportedVersions = listed;
    const mutual = listed.find((v) => eraOfVersion(v) === '2026' && SESSIONLESS_VERSIONS.includes(v));
    if (mutual && mutual !== version) {
      version = mutual;
      discover = await post(wire, 'server/discover', version);
    }
  }
  const listed = discover.outcome === 'ok' ? versionsOf(discover) : result.supportedVersions;
  result.supportedVersions = listed;
  const speaks =
    discover.outcome === 'ok' && (listed.length === 0 || listed.some((v) => eraOfVersion(v) === '2026'));
  if (!speaks) {
    result.refusal = {
      outcome: discover.outcome,
      httpStatus: discover.httpStatus,
      rpcErrorCode: discover.record.rpcErrorCode,
    };
    return result;
  }
  result.supported = true;
  result.protocolVersion = version;
  result.discoverLatencySeconds = seconds(discover.latencyMs);
  const call = await post(wire, 'tools/list', version);
  if (call.outcome === 'ok') {
    result.callLatencySeconds = seconds(call.latencyMs);
    result.toolsReturned = toolsReturned(call);
  }
  return result;
}
