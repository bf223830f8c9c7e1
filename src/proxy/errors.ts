import type { ServerResponse } from 'node:http';

/** JSON-RPC error codes the proxy itself answers with (implementation-defined server errors). */
export const PROXY_ERROR = {
  unknownUpstream: -32004,
  bodyTooLarge: -32005,
  upstreamUnreachable: -32006,
  upstreamTimeout: -32007,
  upstreamOverloaded: -32008,
  badRequest: -32600,
} as const;

/**
 * The proxy answers its own failures as JSON-RPC error responses (never throws
 * at the client), with the request id when it could be read.
 */
export function sendJsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  id: string | number | null = null,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

/** Restore a JSON-RPC id's type (numbers stay numbers) for error responses. */
export function jsonRpcIdFrom(id: string | null, body: Buffer | string | null): string | number | null {
  if (id === null) return null;
  if (body && /^\d+$/.test(id) && body.includes(`"id":${id}`)) return Number(id);
  return id;
}
