// The proxy's HTTP/1.1 client for Streamable HTTP upstreams: keep-alive connections per
// origin, one request at a time on each, the request written in one `writev`, the response
// parsed by hand and handed over chunk by chunk (no stream objects, no header objects).
//
// Why not undici here: for the proxy's one kind of request (a buffered body, a response relayed
// as it arrives) undici's general machinery (its request object, header validation, the
// WebAssembly parser and its timers) was most of the forwarding cost. Measured in
// `bench/README.md` (fifteenth session): a pass-through on this client spent 0.90x the CPU of one
// on `undici.Pool.dispatch`, and added 0.19 against 0.25 ms at concurrency 1. The probe, the
// legacy SSE transport and everything else still use undici.
//
// What it does, as undici's `Pool` did for the proxy:
// - reuses an idle connection (most recently used first), else opens one, up to
//   `maxConnections`; requests beyond wait in order;
// - keeps a connection for `keepAliveTimeoutMs` after a response, or for the server's
//   `Keep-Alive: timeout=N` hint less `keepAliveThresholdMs`, so that it does not send on a
//   socket the server is about to close; `Connection: close`, HTTP/1.0 without keep-alive, a
//   close-delimited body or bytes after the response end the connection instead;
// - bodies framed by Content-Length, `Transfer-Encoding: chunked` (extensions and trailers
//   read and dropped) or the connection's end; none for HEAD, 204 and 304; 1xx skipped;
// - errors carry undici's codes (`UND_ERR_HEADERS_TIMEOUT`, `UND_ERR_CONNECT_TIMEOUT`,
//   `UND_ERR_SOCKET`, ...) so that callers tell them apart the same way;
// - a handler's `onData` returning false pauses the socket until `resume()`.
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { hasToken, trimOws } from './headers.js';

export class UpstreamHttpError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'UpstreamHttpError';
  }
}

export interface H1DispatchOptions {
  method: string;
  /** Path and query, as sent on the request line. */
  path: string;
  /** Flat [name, value, ...]; a Content-Length among them is set to the body's length. */
  headers: readonly string[];
  body: Buffer | null;
  /** No response headers this long after the request: `UND_ERR_HEADERS_TIMEOUT`. */
  headersTimeout: number;
}

/** Undici's plain dispatch handler, which is what the proxy's relay already was. */
export interface H1Handler {
  onConnect(abort: (err?: Error) => void): void;
  /**
   * The final response (1xx answers are skipped before it). Raw header names and values as
   * latin1 strings, original case, order and repeats kept.
   */
  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

export interface H1PoolOptions {
  maxConnections?: number;
  /** Idle time kept when the server gives no `Keep-Alive: timeout` hint. */
  keepAliveTimeoutMs?: number;
  keepAliveMaxTimeoutMs?: number;
  keepAliveThresholdMs?: number;
  connectTimeoutMs?: number;
  /** Largest response head accepted (status line and headers). */
  maxHeaderBytes?: number;
  /** Extra TLS options for https origins (tests: a private CA). */
  tls?: ConnectionOptions;
}

interface Pending {
  opts: H1DispatchOptions;
  handler: H1Handler;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** How often deadlines are checked: timeouts fire up to this late. */
const SWEEP_MS = 100;
const EMPTY = Buffer.alloc(0);

enum Mode {
  /** No request on the connection. */
  Idle = 0,
  /** Waiting for (the rest of) the response head. */
  Head = 1,
  Length = 2,
  Chunked = 3,
  /** Body delimited by the connection's end. */
  Close = 4,
}

enum Chunk {
  Size = 0,
  Data = 1,
  DataEnd = 2,
  Trailers = 3,
}

export class H1Pool {
  readonly host: string;
  private readonly hostname: string;
  private readonly port: number;
  private readonly secure: boolean;
  private readonly idle: Connection[] = [];
  private readonly queue: Pending[] = [];
  private open = 0;
  private closed = false;
  readonly maxConnections: number;
  readonly keepAliveTimeoutMs: number;
  readonly keepAliveMaxTimeoutMs: number;
  readonly keepAliveThresholdMs: number;
  readonly connectTimeoutMs: number;
  readonly maxHeaderBytes: number;
  private readonly tls: ConnectionOptions | undefined;
  /** Every connection, idle or busy, so that `destroy` and the sweep reach them all. */
  private readonly all = new Set<Connection>();
  /**
   * One coarse timer per pool, while it has connections, checks every deadline (connect,
   * response headers, keep-alive): no timer is set or cleared per request.
   */
  private sweeper: NodeJS.Timeout | null = null;
  private readonly sweep = (): void => {
    const now = performance.now();
    for (const c of this.all) c.check(now);
  };

  constructor(origin: string | URL, opts: H1PoolOptions = {}) {
    const url = typeof origin === 'string' ? new URL(origin) : origin;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`unsupported upstream protocol ${url.protocol}`);
    }
    this.secure = url.protocol === 'https:';
    this.host = url.host;
    this.hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = Number(url.port) || (this.secure ? 443 : 80);
    this.maxConnections = opts.maxConnections ?? 256;
    this.keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 4_000;
    this.keepAliveMaxTimeoutMs = opts.keepAliveMaxTimeoutMs ?? 600_000;
    this.keepAliveThresholdMs = opts.keepAliveThresholdMs ?? 2_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 64 * 1024;
    this.tls = opts.tls;
  }

  /** Connections open now (idle and busy). */
  get connections(): number {
    return this.open;
  }

  /** `running`: requests on a connection now; `pending`: requests waiting for one. */
  get stats(): { connections: number; idle: number; running: number; pending: number } {
    return {
      connections: this.open,
      idle: this.idle.length,
      running: this.open - this.idle.length,
      pending: this.queue.length,
    };
  }

  dispatch(opts: H1DispatchOptions, handler: H1Handler): void {
    if (this.closed) {
      handler.onError(new UpstreamHttpError('the upstream client is closed', 'UND_ERR_DESTROYED'));
      return;
    }
    let conn = this.idle.pop();
    while (conn?.unusable()) conn = this.idle.pop();
    if (conn === undefined) {
      if (this.open >= this.maxConnections) {
        this.queue.push({ opts, handler });
        return;
      }
      conn = this.connect();
    }
    conn.send(opts, handler);
  }

  /** Closes every connection; requests in flight or waiting fail with `UND_ERR_DESTROYED`. */
  async destroy(): Promise<void> {
    this.closed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    const err = new UpstreamHttpError('the upstream client was closed', 'UND_ERR_DESTROYED');
    for (const p of this.queue.splice(0)) p.handler.onError(err);
    for (const c of [...this.all]) c.fail(err);
    this.idle.length = 0;
  }

  private connect(): Connection {
    const socket = this.secure
      ? tlsConnect({
          host: this.hostname,
          port: this.port,
          servername: isIp(this.hostname) ? undefined : this.hostname,
          ALPNProtocols: ['http/1.1'],
          ...this.tls,
        })
      : netConnect({ host: this.hostname, port: this.port });
    socket.setNoDelay(true);
    const conn = new Connection(this, socket, this.secure);
    this.open++;
    this.all.add(conn);
    if (this.sweeper === null) {
      this.sweeper = setInterval(this.sweep, SWEEP_MS);
      this.sweeper.unref();
    }
    return conn;
  }

  /** @internal A connection finished a response and may take another request. */
  release(conn: Connection): void {
    const next = this.queue.shift();
    if (next) {
      conn.send(next.opts, next.handler);
      return;
    }
    if (this.closed) conn.fail(new UpstreamHttpError('closed', 'UND_ERR_DESTROYED'));
    else this.idle.push(conn);
  }

  /** @internal A connection is gone. */
  forget(conn: Connection): void {
    if (!this.all.delete(conn)) return;
    this.open--;
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (this.open === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
    // A slot is free: a waiting request gets a new connection.
    const next = this.closed ? undefined : this.queue.shift();
    if (next) this.connect().send(next.opts, next.handler);
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

class Connection {
  private mode: Mode = Mode.Idle;
  private handler: H1Handler | null = null;
  private method = '';
  /** Part of a response head, or of a chunk-size or trailer line, from an earlier read. */
  private partial: Buffer = EMPTY;
  private remaining = 0;
  private chunk: Chunk = Chunk.Size;
  private reusable = true;
  private keepAliveMs = 0;
  /** performance.now() by which: the socket connects, the response head arrives, the idle connection closes. */
  private connectBy = 0;
  private headersBy = 0;
  private idleUntil = 0;
  private connected = false;
  private dead = false;
  private socketError: Error | null = null;
  private readonly resume = (): void => {
    if (this.handler !== null) this.socket.resume();
  };

  constructor(
    private readonly pool: H1Pool,
    private readonly socket: Socket,
    secure: boolean,
  ) {
    this.connectBy = performance.now() + pool.connectTimeoutMs;
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      this.connected = true;
    });
    socket.on('data', (buf: Buffer) => this.onData(buf));
    socket.on('error', (err: Error) => {
      this.socketError = err;
    });
    socket.on('end', () => {
      if (this.mode === Mode.Close) this.complete(0);
    });
    socket.on('close', () => this.onClose());
  }

  /** The sweep: a deadline passed. */
  check(now: number): void {
    if (this.dead) return;
    if (this.handler === null) {
      // Idle past its keep-alive: close before the server does.
      if (now >= this.idleUntil) this.fail(null);
    } else if (!this.connected && now >= this.connectBy) {
      this.fail(new UpstreamHttpError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT'));
    } else if (this.mode === Mode.Head && now >= this.headersBy) {
      // Counted from the request, connecting included: `timeoutSeconds` is the whole wait.
      this.fail(new UpstreamHttpError('headers timeout', 'UND_ERR_HEADERS_TIMEOUT'));
    }
  }

  /** Closed or closing while idle: not to be handed a request. */
  unusable(): boolean {
    if (this.dead || this.socket.destroyed || !this.socket.writable) {
      this.fail(null);
      return true;
    }
    return false;
  }

  send(opts: H1DispatchOptions, handler: H1Handler): void {
    this.handler = handler;
    this.method = opts.method;
    this.mode = Mode.Head;
    this.partial = EMPTY;
    this.reusable = true;
    this.keepAliveMs = this.pool.keepAliveTimeoutMs;
    this.headersBy =
      opts.headersTimeout > 0 && Number.isFinite(opts.headersTimeout)
        ? performance.now() + opts.headersTimeout
        : Number.POSITIVE_INFINITY;
    // Bound to this request: a handler calling it after its response ends aborts nothing else.
    handler.onConnect((err?: Error) => {
      if (this.handler === handler)
        this.fail(err ?? new UpstreamHttpError('request aborted', 'UND_ERR_ABORTED'));
    });
    if (this.handler !== handler) return; // aborted at once
    const body = opts.body;
    let head = `${opts.method} ${opts.path} HTTP/1.1\r\nhost: ${this.pool.host}\r\n`;
    let lengthSent = false;
    const headers = opts.headers;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      let value = headers[i + 1]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        if (lengthSent) continue;
        lengthSent = true;
        value = String(body === null ? 0 : body.length);
      } else if (hasLineBreak(value) || hasLineBreak(name)) {
        this.fail(new UpstreamHttpError(`invalid ${name} header`, 'UND_ERR_INVALID_ARG'));
        return;
      }
      head += `${name}: ${value}\r\n`;
    }
    if (!lengthSent && (body !== null || expectsBody(opts.method))) {
      head += `content-length: ${body === null ? 0 : body.length}\r\n`;
    }
    head += '\r\n';
    const socket = this.socket;
    if (body !== null && body.length > 0) {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    } else {
      socket.write(head, 'latin1');
    }
  }

  private onData(input: Buffer): void {
    if (this.handler === null) {
      // Bytes nobody asked for (after a response, or on an idle connection): not reusable.
      this.fail(null);
      return;
    }
    let buf = input;
    let pos = 0;
    if (this.partial.length > 0) {
      buf = Buffer.concat([this.partial, input]);
      this.partial = EMPTY;
    }
    while (pos < buf.length && this.handler !== null) {
      switch (this.mode) {
        case Mode.Head:
          pos = this.readHead(buf, pos);
          if (pos < 0) return;
          break;
        case Mode.Length: {
          const n = Math.min(this.remaining, buf.length - pos);
          const slice = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          this.deliver(slice);
          if (this.remaining === 0) {
            this.complete(buf.length - pos);
            return;
          }
          break;
        }
        case Mode.Chunked:
          pos = this.readChunked(buf, pos);
          if (pos < 0) return;
          break;
        case Mode.Close:
          this.deliver(pos === 0 ? buf : buf.subarray(pos));
          pos = buf.length;
          break;
        default:
          this.fail(null);
          return;
      }
    }
  }

  /** Parses a response head at `pos`; returns where the body starts, or -1 when done with this read. */
  private readHead(buf: Buffer, pos: number): number {
    const end = buf.indexOf(CRLFCRLF, pos);
    if (end < 0) {
      if (buf.length - pos > this.pool.maxHeaderBytes) {
        this.fail(new UpstreamHttpError('response headers too large', 'UND_ERR_HEADERS_OVERFLOW'));
      } else {
        this.partial = Buffer.from(buf.subarray(pos));
      }
      return -1;
    }
    if (end - pos > this.pool.maxHeaderBytes) {
      this.fail(new UpstreamHttpError('response headers too large', 'UND_ERR_HEADERS_OVERFLOW'));
      return -1;
    }
    const text = buf.toString('latin1', pos, end);
    const next = end + 4;
    // Status line: HTTP/1.x SSS reason
    if (text.length < 12 || !text.startsWith('HTTP/1.') || text.charCodeAt(12) > 32) {
      this.fail(new UpstreamHttpError('invalid response status line', 'HPE_INVALID_CONSTANT'));
      return -1;
    }
    const status = Number(text.slice(9, 12));
    if (!(status >= 100 && status <= 999) || text.charCodeAt(8) !== 32) {
      this.fail(new UpstreamHttpError('invalid response status', 'HPE_INVALID_STATUS'));
      return -1;
    }
    const http10 = text.charCodeAt(7) === 48;
    const raw: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let encoded = false;
    let connection: string | null = null;
    let keepAlive: string | null = null;
    let lineStart = text.indexOf('\r\n');
    while (lineStart >= 0) {
      const from = lineStart + 2;
      let to = text.indexOf('\r\n', from);
      if (to < 0) to = text.length;
      lineStart = to < text.length ? to : -1;
      const colon = text.indexOf(':', from);
      const first = text.charCodeAt(from);
      if (colon <= from || colon >= to || first === 32 || first === 9) {
        this.fail(new UpstreamHttpError('invalid response header', 'HPE_INVALID_HEADER_TOKEN'));
        return -1;
      }
      const name = text.slice(from, colon);
      const value = trimOws(text, colon + 1, to);
      raw.push(name, value);
      switch (name.length) {
        case 10:
          if (name.toLowerCase() === 'connection')
            connection = connection === null ? value : `${connection},${value}`;
          else if (name.toLowerCase() === 'keep-alive') keepAlive = value;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') {
            const n = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
            if (Number.isNaN(n) || (contentLength >= 0 && contentLength !== n)) {
              this.fail(
                new UpstreamHttpError('invalid content-length', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'),
              );
              return -1;
            }
            contentLength = n;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            encoded = true;
            chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
          }
          break;
      }
    }
    if (status < 200) {
      if (status === 101) {
        this.fail(new UpstreamHttpError('upgrade responses are not supported', 'UND_ERR_NOT_SUPPORTED'));
        return -1;
      }
      return next; // 1xx: the final response follows
    }
    const conn = connection?.toLowerCase() ?? null;
    if (conn !== null && hasToken(conn, 'close')) this.reusable = false;
    else if (http10 && !(conn !== null && /keep-alive/.test(conn))) this.reusable = false;
    if (keepAlive !== null) {
      const m = /timeout\s*=\s*(\d+)/i.exec(keepAlive);
      if (m) {
        const ms = Math.min(
          Number(m[1]) * 1000 - this.pool.keepAliveThresholdMs,
          this.pool.keepAliveMaxTimeoutMs,
        );
        if (ms <= 0) this.reusable = false;
        else this.keepAliveMs = ms;
      }
    }
    const handler = this.handler!;
    const noBody = this.method === 'HEAD' || status === 204 || status === 304;
    if (noBody) this.mode = Mode.Length;
    else if (chunked) {
      this.mode = Mode.Chunked;
      this.chunk = Chunk.Size;
      // Both framings at once (RFC 9112 §6.3): chunked wins, and the connection is not trusted again.
      if (contentLength >= 0) this.reusable = false;
    } else if (contentLength >= 0 && !encoded) this.mode = Mode.Length;
    else {
      this.mode = Mode.Close;
      this.reusable = false;
    }
    this.remaining = noBody ? 0 : contentLength;
    let more: boolean;
    try {
      more = handler.onHeaders(status, raw, this.resume);
    } catch (err) {
      // e.g. a header value Node refuses to write: the request fails, the process does not.
      this.fail(err as Error);
      return -1;
    }
    if (more === false) this.socket.pause();
    if (this.handler !== handler) return -1; // aborted from onHeaders
    if (this.mode === Mode.Length && this.remaining === 0) {
      this.complete(buf.length - next);
      return -1;
    }
    return next;
  }

  private readChunked(buf: Buffer, pos: number): number {
    while (pos < buf.length && this.handler !== null) {
      switch (this.chunk) {
        case Chunk.Size: {
          const eol = buf.indexOf(10, pos);
          if (eol < 0) return this.keepLine(buf, pos);
          const line = buf.toString('latin1', pos, eol > pos && buf[eol - 1] === 13 ? eol - 1 : eol);
          const semi = line.indexOf(';');
          const hex = (semi >= 0 ? line.slice(0, semi) : line).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
            this.fail(new UpstreamHttpError('invalid chunk size', 'HPE_INVALID_CHUNK_SIZE'));
            return -1;
          }
          this.remaining = Number.parseInt(hex, 16);
          this.chunk = this.remaining === 0 ? Chunk.Trailers : Chunk.Data;
          pos = eol + 1;
          break;
        }
        case Chunk.Data: {
          const n = Math.min(this.remaining, buf.length - pos);
          this.remaining -= n;
          if (this.remaining === 0) {
            this.chunk = Chunk.DataEnd;
            this.remaining = 2;
          }
          this.deliver(buf.subarray(pos, pos + n));
          pos += n;
          break;
        }
        case Chunk.DataEnd: {
          // "\r\n" after the data, possibly split across reads.
          const c = buf[pos]!;
          if ((this.remaining === 2 && c !== 13 && c !== 10) || (this.remaining === 1 && c !== 10)) {
            this.fail(new UpstreamHttpError('invalid chunk end', 'HPE_STRICT'));
            return -1;
          }
          pos++;
          this.remaining = c === 10 ? 0 : this.remaining - 1;
          if (this.remaining === 0) this.chunk = Chunk.Size;
          break;
        }
        case Chunk.Trailers: {
          const eol = buf.indexOf(10, pos);
          if (eol < 0) return this.keepLine(buf, pos);
          const empty = eol === pos || (eol === pos + 1 && buf[pos] === 13);
          pos = eol + 1;
          if (empty) {
            this.complete(buf.length - pos);
            return -1;
          }
          break;
        }
      }
    }
    return pos;
  }

  /** An unfinished chunk-size or trailer line: kept for the next read, within limits. */
  private keepLine(buf: Buffer, pos: number): number {
    if (buf.length - pos > this.pool.maxHeaderBytes) {
      this.fail(new UpstreamHttpError('chunk line too long', 'HPE_INVALID_CHUNK_SIZE'));
    } else {
      this.partial = Buffer.from(buf.subarray(pos));
    }
    return -1;
  }

  private deliver(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let more: boolean;
    try {
      more = this.handler!.onData(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (more === false && this.handler !== null) this.socket.pause();
  }

  /** The response is complete; `extra` bytes followed it in the same read (a protocol error: not reused). */
  private complete(extra: number): void {
    const handler = this.handler;
    if (handler === null) return;
    this.handler = null;
    this.mode = Mode.Idle;
    this.partial = EMPTY;
    if (extra > 0 || !this.reusable || this.socket.destroyed) {
      this.fail(null);
    } else {
      if (this.socket.isPaused()) this.socket.resume();
      this.idleUntil = performance.now() + this.keepAliveMs;
      this.pool.release(this);
    }
    try {
      handler.onComplete();
    } catch {
      // Nothing is left to fail: the response is complete and the connection handed on.
    }
  }

  /** Ends the connection; the request on it, if any, fails with `err`. */
  fail(err: Error | null): void {
    const handler = this.handler;
    this.handler = null;
    this.mode = Mode.Idle;
    if (!this.dead) {
      this.dead = true;
      this.socket.destroy();
      this.pool.forget(this);
    }
    if (handler === null) return;
    try {
      handler.onError(err ?? new UpstreamHttpError('other side closed', 'UND_ERR_SOCKET'));
    } catch {
      // A handler failing on an error must not take the process down with it.
    }
  }

  private onClose(): void {
    if (this.handler !== null && this.mode === Mode.Close && this.socketError === null) {
      this.complete(0);
      return;
    }
    const err = this.socketError;
    this.fail(
      this.handler === null ? null : (err ?? new UpstreamHttpError('other side closed', 'UND_ERR_SOCKET')),
    );
  }
}

function hasLineBreak(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0) return true;
  }
  return false;
}

function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}
