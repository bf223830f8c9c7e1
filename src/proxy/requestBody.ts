// Reading a request body before it is forwarded, with three bounds: its own size
// (`server.maxBodyBytes`, 413), the bytes held across every request being read or forwarded
// (`server.maxBufferedBodyBytes`, 503 with Retry-After), and a deadline for the whole body
// (`server.bodyTimeoutSeconds`, 408). Without the last two, 20 clients that each sent 9.9 MB of
// a 10 MiB body and stopped held 200 MB until node:http's five-minute request timeout.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RETRY_AFTER_SECONDS } from './admission.js';
import { PROXY_ERROR, sendJsonRpcError } from './errors.js';

/** Bytes held by request bodies across the process. */
export interface BodyBudget {
  /** Takes `bytes` from the budget; false (nothing taken) when they do not fit. */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
  readonly held: number;
  readonly limit: number;
}

export function createBodyBudget(limit: number): BodyBudget {
  let held = 0;
  return {
    reserve(bytes) {
      if (held + bytes > limit) return false;
      held += bytes;
      return true;
    },
    release(bytes) {
      held = Math.max(0, held - bytes);
    },
    get held() {
      return held;
    },
    limit,
  };
}

export interface BodyLimits {
  maxBodyBytes: number;
  budget: BodyBudget;
  timeoutMs: number;
}

/** A body read whole, and the bytes it holds in the budget until `release()` (once). */
export interface HeldBody {
  bytes: Buffer;
  release(): void;
}

type Refusal = 'too-large' | 'over-budget' | 'timeout' | 'broken';

/**
 * Reads `req`'s body within `limits`, or answers the refusal itself (413, 503, 408, or a dropped
 * connection) and returns null. A declared Content-Length is reserved from the budget before a
 * byte is read; a chunked body reserves as it arrives.
 */
export async function readRequestBody(
  req: IncomingMessage,
  res: ServerResponse,
  declaredLength: number | null,
  limits: BodyLimits,
): Promise<HeldBody | null> {
  if (declaredLength !== null && declaredLength > limits.maxBodyBytes) {
    refuse(req, res, 'too-large', limits);
    return null;
  }
  let reserved = 0;
  if (declaredLength !== null) {
    if (!limits.budget.reserve(declaredLength)) {
      refuse(req, res, 'over-budget', limits);
      return null;
    }
    reserved = declaredLength;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    limits.budget.release(reserved);
  };
  const outcome = await new Promise<Buffer | Refusal>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => stop('timeout'), limits.timeoutMs);
    const stop = (why: Refusal | Buffer) => {
      clearTimeout(timer);
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      if (!Buffer.isBuffer(why)) req.pause();
      resolve(why);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBodyBytes) return stop('too-large');
      if (size > reserved) {
        // Chunked (or a client sending more than it declared, which node:http refuses anyway).
        if (!limits.budget.reserve(size - reserved)) return stop('over-budget');
        reserved = size;
      }
      chunks.push(chunk);
    };
    const onEnd = () => stop(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    const onError = () => stop('broken');
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
  });
  if (Buffer.isBuffer(outcome)) {
    // A body shorter than declared is node:http's error, not ours: hold only what is there.
    if (reserved > outcome.length) {
      limits.budget.release(reserved - outcome.length);
      reserved = outcome.length;
    }
    return { bytes: outcome, release };
  }
  release();
  refuse(req, res, outcome, limits);
  return null;
}

function refuse(req: IncomingMessage, res: ServerResponse, why: Refusal, limits: BodyLimits): void {
  if (why === 'broken') {
    res.destroy();
    return;
  }
  if (why === 'too-large')
    sendJsonRpcError(
      res,
      413,
      PROXY_ERROR.bodyTooLarge,
      `mcp-session-probe: request body exceeds the ${limits.maxBodyBytes}-byte limit (server.maxBodyBytes)`,
    );
  else if (why === 'over-budget')
    sendJsonRpcError(
      res,
      503,
      PROXY_ERROR.bodyTooLarge,
      `mcp-session-probe: request bodies already hold ${limits.budget.limit} bytes (server.maxBufferedBodyBytes); retry later`,
      null,
      { 'retry-after': String(RETRY_AFTER_SECONDS) },
    );
  else
    sendJsonRpcError(
      res,
      408,
      PROXY_ERROR.badRequest,
      `mcp-session-probe: request body not received within ${limits.timeoutMs / 1000}s (server.bodyTimeoutSeconds)`,
    );
  res.once('finish', () => linger(req));
}

/** How long, and how many more bytes, a refused body's connection may send (discarded) after the answer. */
const LINGER_MS = 2000;
const LINGER_MAX_BYTES = 1024 * 1024;

/**
 * Closes a connection whose request body was refused without losing the answer: half-close
 * after it, discard what the client still sends, and drop the connection after `LINGER_MS` or
 * `LINGER_MAX_BYTES`. Destroying at once (or `Connection: close`, which makes node:http destroy
 * the socket as soon as the answer is written) resets a connection whose client is still sending,
 * and a TCP reset can discard the answer before the client has read it.
 */
function linger(req: IncomingMessage): void {
  const socket = req.socket;
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_MAX_BYTES) socket.destroy();
  });
  req.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
