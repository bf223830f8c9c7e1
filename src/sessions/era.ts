// Which protocol era one exchange belongs to (docs/eras.md). Revision 2026-07-28 removed
// sessions and the `initialize` handshake: every request names its protocol version in
// `params._meta["io.modelcontextprotocol/protocolVersion"]` (and the `MCP-Protocol-Version`
// header), and a server may serve both eras on one URL. Pure: no I/O.
import type { RequestEnvelope } from './jsonrpc.js';

/** The era of a request: `2025` (sessions, `initialize`) or `2026` (sessionless, per-request envelope). */
export const ERAS = ['2025', '2026'] as const;
export type Era = (typeof ERAS)[number];

/** The first revision of the sessionless era. Revisions are ISO dates, so strings order them. */
export const FIRST_SESSIONLESS_VERSION = '2026-07-28';

/** The JSON-RPC code a 2026 server answers an unsupported (or missing) protocol version with. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;

/** The era a protocol revision belongs to. */
export function eraOfVersion(version: string): Era {
  return version >= FIRST_SESSIONLESS_VERSION ? '2026' : '2025';
}

export interface RequestEraFacts {
  httpMethod: string;
  /** The `Mcp-Session-Id` the request carried, if any. */
  sessionId: string | null;
  /** The `MCP-Protocol-Version` header, if any. */
  headerVersion: string | null;
  request: Pick<RequestEnvelope, 'method' | 'metaProtocolVersion' | 'count'>;
}

/**
 * The era a request speaks, the way a dual-era server routes it (the SDK's own classifier
 * reads the body first): the per-request envelope claim decides; without one, `initialize`,
 * a session id, a GET or DELETE, or a pre-2026 version header are the 2025 era, and a 2026
 * version header is the 2026 era. Null when nothing tells (an old client that sends no version
 * header, on an upstream that issued no session).
 */
export function requestEra(f: RequestEraFacts): Era | null {
  const claim = f.request.metaProtocolVersion;
  if (claim !== null) return eraOfVersion(claim);
  if (f.httpMethod !== 'POST') return '2025';
  if (f.request.method === 'initialize') return '2025';
  if (f.sessionId !== null) return '2025';
  if (f.request.count > 1) return '2025'; // batches do not exist in the 2026 era
  if (f.headerVersion !== null) return eraOfVersion(f.headerVersion);
  return null;
}

/** Versions joined for the store (one text column); the reverse of `splitVersions`. */
export function joinVersions(versions: readonly string[]): string | null {
  const unique = [...new Set(versions)];
  return unique.length === 0 ? null : unique.join(',');
}

export function splitVersions(text: string | null): string[] {
  return text ? text.split(',').filter((v) => v.length > 0) : [];
}
