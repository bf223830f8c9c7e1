// Closed-loop load for data-plane tests: each client opens an MCP session through the proxy and
// then sends the next request as soon as the last one is answered, on its own keep-alive
// connection. Every answer and every error is counted by kind, so a test can tell a reset
// request (which a client cannot safely retry) from a refused connection (which it can).
import { Agent, request } from 'undici';

export interface LoadResult {
  sent: number;
  /** Answers by HTTP status. */
  statuses: Record<number, number>;
  /** Requests that failed without an answer, by error code (ECONNRESET, ECONNREFUSED, ...). */
  errors: Record<string, number>;
  /** Answers that carried `Connection: close`. */
  closeAnswers: number;
}

export interface ClosedLoop {
  /** Counts so far. */
  result: LoadResult;
  /** Resolves once at least `n` requests have been answered. */
  answered(n: number, timeoutMs?: number): Promise<void>;
  /** Stops sending and resolves when every client has stopped. */
  stop(): Promise<LoadResult>;
  /** Resolves when every client has stopped by itself (each stops at its first failure). */
  done: Promise<LoadResult>;
}

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'load', version: '1' } },
});

function errorCode(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  // undici wraps the socket's error: the code that says what happened is on the cause.
  while (e?.cause && typeof (e.cause as { code?: unknown }).code === 'string') e = e.cause as typeof e;
  return typeof e?.code === 'string' ? e.code : String((err as Error)?.message ?? err);
}

/**
 * Starts `clients` closed-loop clients against `mcpUrl`. A client stops at its first failed
 * request (as a client of a draining server would go elsewhere); `stop()` stops them all.
 */
export function closedLoop(mcpUrl: string, clients: number): ClosedLoop {
  const result: LoadResult = { sent: 0, statuses: {}, errors: {}, closeAnswers: 0 };
  let stopping = false;
  let answeredCount = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const agents: Agent[] = [];

  async function send(agent: Agent, body: string, sessionId?: string) {
    result.sent++;
    const res = await request(mcpUrl, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      },
      body,
    });
    await res.body.text();
    result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
    if (String(res.headers.connection ?? '').toLowerCase() === 'close') result.closeAnswers++;
    answeredCount++;
    for (const w of waiters.filter((w) => answeredCount >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    return res.headers['mcp-session-id'] as string | undefined;
  }

  async function client(n: number): Promise<void> {
    // One connection per client: a keep-alive client as agents run them.
    const agent = new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 30_000 });
    agents.push(agent);
    try {
      const sessionId = await send(agent, INIT);
      for (let i = 1; !stopping; i++) {
        await send(agent, `{"jsonrpc":"2.0","id":${i},"method":"tools/list","params":{"c":${n}}}`, sessionId);
      }
    } catch (err) {
      const code = errorCode(err);
      result.errors[code] = (result.errors[code] ?? 0) + 1;
    } finally {
      await agent.close().catch(() => {});
    }
  }

  const done = Promise.all(Array.from({ length: clients }, (_, n) => client(n))).then(() => result);
  return {
    result,
    answered: (n, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (answeredCount >= n) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`only ${answeredCount} of ${n} answers in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
    stop: () => {
      stopping = true;
      return done;
    },
    done,
  };
}
