// The load generator: closed-loop workers on an undici Pool, one request at a time
// per worker, on sessions initialized beforehand through the target under test.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export type RpcMethod = 'ping' | 'tools/list' | 'tools/call';

const PROTOCOL_VERSION = '2025-06-18';

export interface CellResult {
  requests: number;
  errors: number;
  seconds: number;
  /** Request latencies (ms), sorted. */
  latenciesMs: number[];
  /** Time to the first SSE event (ms), sorted; empty unless the answers are SSE. */
  firstEventMs: number[];
}

/** One keep-alive client towards one MCP endpoint, with its sessions. */
export class McpLoadClient {
  readonly pool: Pool;
  sessions: string[] = [];
  private nextId = 1;

  constructor(
    readonly origin: string,
    readonly path: string,
    connections = 32,
  ) {
    this.pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  /** Opens `n` sessions (initialize + notifications/initialized), `parallel` at a time. */
  async openSessions(n: number, parallel = 16): Promise<string[]> {
    const opened: string[] = [];
    let left = n;
    const worker = async () => {
      while (left > 0) {
        left--;
        opened.push(await this.openSession());
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker));
    return opened;
  }

  async openSession(): Promise<string> {
    const init = await this.post(null, {
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'mcp-session-probe-bench', version: '0' },
      },
    });
    const sid = init.headers['mcp-session-id'];
    await init.body.dump();
    if (init.statusCode !== 200 || typeof sid !== 'string') {
      throw new Error(
        `bench: initialize via ${this.origin}${this.path} answered ${init.statusCode} without a session id`,
      );
    }
    const note = await this.post(sid, { jsonrpc: '2.0', method: 'notifications/initialized' });
    await note.body.dump();
    return sid;
  }

  private post(sessionId: string | null, message: unknown) {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': PROTOCOL_VERSION,
    };
    if (sessionId) headers['mcp-session-id'] = sessionId;
    return this.pool.request({ method: 'POST', path: this.path, headers, body: JSON.stringify(message) });
  }

  body(method: RpcMethod, id: number): string {
    if (method === 'tools/call') {
      return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"slow_progress","arguments":{"steps":3,"intervalMs":0},"_meta":{"progressToken":${id}}}}`;
    }
    return `{"jsonrpc":"2.0","id":${id},"method":"${method}"}`;
  }

  /** Runs `concurrency` closed-loop workers for `durationMs`. */
  async run(method: RpcMethod, concurrency: number, durationMs: number): Promise<CellResult> {
    const latencies: number[] = [];
    const firstEvents: number[] = [];
    let errors = 0;
    const start = performance.now();
    const deadline = start + durationMs;
    const worker = async (w: number) => {
      const sessionId = this.sessions[w % this.sessions.length]!;
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': PROTOCOL_VERSION,
        'mcp-session-id': sessionId,
      };
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const res = await this.pool.request({
            method: 'POST',
            path: this.path,
            headers,
            body: this.body(method, this.nextId++),
          });
          const sse = String(res.headers['content-type']).startsWith('text/event-stream');
          let first = -1;
          for await (const chunk of res.body) {
            if (sse && first < 0 && (chunk as Buffer).includes('data:')) first = performance.now() - t0;
          }
          if (res.statusCode !== 200) {
            errors++;
            continue;
          }
          latencies.push(performance.now() - t0);
          if (first >= 0) firstEvents.push(first);
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    firstEvents.sort((a, b) => a - b);
    return { requests: latencies.length, errors, seconds, latenciesMs: latencies, firstEventMs: firstEvents };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
