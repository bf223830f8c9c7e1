// The prober's read-only guarantee, enforced in exactly one place: every probe
// HTTP request passes `assertReadOnly` before it leaves the process (see wire.ts).
// A probe must never change anything on a server it measures, so it never sends
// `tools/call` (or anything else that could act), whatever mode or option is used.

/** JSON-RPC methods the prober may send. Nothing else, ever. */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'notifications/initialized',
  'tools/list',
  'ping',
  // The sessionless era's (2026-07-28) description of the server: what `initialize` told before.
  'server/discover',
]);

export type ProbeHttpMethod = 'POST' | 'GET' | 'DELETE';

export class ReadOnlyViolation extends Error {
  override readonly name = 'ReadOnlyViolation';
}

export interface ProbeRequestShape {
  httpMethod: string;
  /** The JSON-RPC message a POST carries (a single message: the prober never batches). */
  message?: { method?: unknown } | null;
  /** GET is a standalone stream, allowed only when the run holds one (`--hold-stream`). */
  holdStream: boolean;
}

/** Throws ReadOnlyViolation for anything but the allowed methods. */
export function assertReadOnly({ httpMethod, message, holdStream }: ProbeRequestShape): void {
  if (httpMethod === 'DELETE') return;
  if (httpMethod === 'GET') {
    if (holdStream) return;
    throw new ReadOnlyViolation('probe: a GET stream is only opened with --hold-stream');
  }
  if (httpMethod !== 'POST') {
    throw new ReadOnlyViolation(`probe: HTTP method ${httpMethod} is not allowed; only POST, DELETE and GET`);
  }
  if (message === null || message === undefined || Array.isArray(message)) {
    throw new ReadOnlyViolation('probe: a POST must carry exactly one JSON-RPC message');
  }
  const method = message.method;
  if (typeof method !== 'string' || !READ_ONLY_METHODS.has(method)) {
    throw new ReadOnlyViolation(
      `probe: JSON-RPC method ${JSON.stringify(method)} is not read-only; allowed: ${[...READ_ONLY_METHODS].join(', ')}`,
    );
  }
}
