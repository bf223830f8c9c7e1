// The proxy's fast front for its hot route: complete, plain HTTP/1.1 requests to a Streamable
// HTTP upstream (`POST|GET|DELETE /mcp/<id>`) are parsed by hand and answered through a small
// response object; every other request goes to the `node:http` server, with its connection.
//
// Why: after the proxy's own upstream client (`h1client.ts`), `node:http`'s server side (its
// IncomingMessage and ServerResponse streams, events and header objects) was the largest part
// of a forwarded request the proxy could still change. With this front the proxy uses 0.81x the
// CPU per request of the same proxy on `node:http` (`bench/README.md`, sixteenth and seventeenth
// sessions).
//
// What the fast path takes, and nothing else:
// - a request line `POST|GET|DELETE <target> HTTP/1.1` whose target the proxy accepts
//   (`accept`), and a head that arrived whole (within `maxHeaderBytes`);
// - header lines of token names and visible ASCII values (tabs and spaces allowed), a `Host`,
//   at most one all-digit Content-Length within `maxBodyBytes` (a body only on POST), and no
//   Transfer-Encoding, Expect or Upgrade.
// Anything else (another route, HTTP/1.0, a head split across reads, chunked or oversized
// bodies, obs-fold, bytes above 0x7e, a missing Host...) hands the connection over to
// `node:http` at that request, with every byte it has not answered, so that Node parses and
// answers it exactly as it would without this front (errors, 400/413/431 and timeouts
// included). A connection stays with Node after that.
//
// Answers are written as `node:http` writes them: its status line and reason phrases, the
// headers as given (validated by Node's own `validateHeaderName`/`validateHeaderValue`), then
// `Date`, `Connection: keep-alive` with `Keep-Alive: timeout=N` (or `Connection: close`) and
// `Transfer-Encoding: chunked` when the given headers have none of them and a body is allowed.
// A test sends the same requests through both and compares the bytes.
import { maxHeaderSize, type Server, STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import { hasToken, trimOws } from './headers.js';

/** What the proxy's forwarding code needs from a response: `node:http`'s `ServerResponse` has it too. */
export interface ClientResponse {
  readonly headersSent: boolean;
  writeHead(statusCode: number, headers: string[] | Record<string, string | number>): unknown;
  flushHeaders(): void;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  cork(): void;
  uncork(): void;
  destroy(): unknown;
  once(event: 'close' | 'drain' | 'finish', listener: () => void): unknown;
}

/** A request the fast path took: the head parsed, the whole body read. */
export interface FastRequest {
  method: string;
  /** The request target as sent. */
  url: string;
  /** Flat [name, value, ...], original case and order, values trimmed (as Node's `rawHeaders`). */
  rawHeaders: string[];
  body: Buffer | null;
  remoteAddress: string | undefined;
}

export interface FastFrontOptions<T> {
  /** The route for this request, or null to leave it (and its connection) to `node:http`. */
  accept(method: string, url: string): T | null;
  handle(route: T, req: FastRequest, res: FastResponse): void;
  maxBodyBytes: number;
  /** `node:http`'s `maxHeaderSize` (16 KiB by default): longer heads go to Node, which answers 431. */
  maxHeaderBytes?: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Node's answer when a request does not arrive in `server.requestTimeout`. */
const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
/** How often idle and request deadlines are checked: they fire up to this late. */
const SWEEP_MS = 1000;
/** `node:http`'s default `server.maxHeadersCount`. */
const NODE_MAX_HEADERS_COUNT = 2000;
/** Bytes a client may send ahead (pipelined) while an answer is in progress, before reading pauses. */
const MAX_BUFFERED_AHEAD = 64 * 1024;

// RFC 9110 token characters (header names), as a lookup table over ASCII.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** A head with any byte outside tab, CR, LF and visible ASCII is Node's to judge. */
const UNUSUAL_BYTE = /[^\t\r\n\x20-\x7e]/;

let dateCache = '';
let dateCacheUntil = 0;
/** The `Date` value, made once a second (as Node does). */
function utcDate(): string {
  const now = Date.now();
  if (now >= dateCacheUntil) {
    dateCache = new Date(now).toUTCString();
    dateCacheUntil = now - (now % 1000) + 1000;
  }
  return dateCache;
}

interface ParsedHead {
  method: string;
  url: string;
  rawHeaders: string[];
  contentLength: number;
  keepAlive: boolean;
  /** Bytes of the head, the blank line included. */
  headBytes: number;
}

/**
 * The head at the start of `buf` when the fast path may take it; null when Node must (anything
 * unusual); undefined when it has not arrived whole.
 */
export function parseFastHead(buf: Buffer, maxHeaderBytes: number): ParsedHead | null | undefined {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) return buf.length > maxHeaderBytes ? null : undefined;
  if (end + 4 > maxHeaderBytes) return null;
  const head = buf.toString('latin1', 0, end);
  if (UNUSUAL_BYTE.test(head)) return null;
  let lineEnd = head.indexOf('\r\n');
  const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0 || requestLine.slice(sp2 + 1) !== 'HTTP/1.1') return null;
  const method = requestLine.slice(0, sp1);
  if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') return null;
  const url = requestLine.slice(sp1 + 1, sp2);
  if (url.length === 0 || url.charCodeAt(0) !== 0x2f || url.includes(' ') || url.includes('\t')) return null;

  const rawHeaders: string[] = [];
  let contentLength = -1;
  let host = false;
  let keepAlive = true;
  while (lineEnd >= 0) {
    const start = lineEnd + 2;
    lineEnd = head.indexOf('\r\n', start);
    const line = lineEnd < 0 ? head.slice(start) : head.slice(start, lineEnd);
    // A bare CR or LF inside a line, obs-fold, or a line without a name: Node's to judge.
    if (line.includes('\r') || line.includes('\n')) return null;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    for (let i = 0; i < colon; i++) {
      const c = line.charCodeAt(i);
      if (c > 0x7f || TCHAR[c] !== 1) return null;
    }
    const name = line.slice(0, colon);
    const value = trimOws(line, colon + 1, line.length);
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') host = true;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return null;
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return null;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const v = value.toLowerCase();
          if (v.includes('upgrade')) return null;
          if (hasToken(v, 'close')) keepAlive = false;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (contentLength >= 0 || value.length === 0 || value.length > 15) return null;
          for (let i = 0; i < value.length; i++) {
            const c = value.charCodeAt(i);
            if (c < 0x30 || c > 0x39) return null;
          }
          contentLength = Number(value);
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return null;
        break;
    }
    rawHeaders.push(name, value);
    // More header lines than `node:http` keeps (its `maxHeadersCount`, 2000): Node's to trim.
    if (rawHeaders.length > 2 * NODE_MAX_HEADERS_COUNT) return null;
  }
  if (!host) return null;
  if (contentLength < 0) contentLength = 0;
  if (contentLength > 0 && method !== 'POST') return null;
  return { method, url, rawHeaders, contentLength, keepAlive, headBytes: end + 4 };
}

/** The response to one fast request, written to the socket as `node:http` would write it. */
export class FastResponse implements ClientResponse {
  headersSent = false;
  /** The head, built by `writeHead`, not yet written. */
  private head: string | null = null;
  private chunked = false;
  private hasBody = true;
  private ended = false;
  private closed = false;
  /** Corked by a write of the head; released on the next tick or by `end`. */
  private corked = false;
  private closeListeners: (() => void)[] | null = null;
  private drainListeners: (() => void)[] | null = null;
  private finishListeners: (() => void)[] | null = null;

  constructor(
    /** @internal */
    readonly conn: FastConnection,
    /** The request allows the connection to stay open; the answer's own `Connection` may still close it. */
    private keepAlive: boolean,
  ) {}

  writeHead(statusCode: number, headers: string[] | Record<string, string | number>): this {
    if (this.head !== null || this.headersSent) throw new Error('headers already written');
    if (!(statusCode >= 100 && statusCode <= 999)) throw new RangeError(`invalid status code ${statusCode}`);
    let out = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'unknown'}\r\n`;
    let date = false;
    let connection = false;
    let framed = false;
    const add = (name: string, value: string): void => {
      validateHeaderName(name);
      validateHeaderValue(name, value);
      out += `${name}: ${value}\r\n`;
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'date') date = true;
          break;
        case 10:
          if (name.toLowerCase() === 'connection') {
            connection = true;
            if (hasToken(value.toLowerCase(), 'close')) this.keepAlive = false;
          }
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') framed = true;
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            framed = true;
            if (hasToken(value.toLowerCase(), 'chunked')) this.chunked = true;
          }
          break;
      }
    };
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) add(headers[i]!, headers[i + 1]!);
    } else {
      for (const name of Object.keys(headers)) add(name, String(headers[name]));
    }
    if (statusCode === 204 || statusCode === 304 || statusCode < 200) this.hasBody = false;
    if (!date) out += `Date: ${utcDate()}\r\n`;
    if (!connection) {
      if (!this.keepAlive) out += 'Connection: close\r\n';
      else {
        out += 'Connection: keep-alive\r\n';
        const seconds = this.conn.front.keepAliveSeconds;
        if (this.conn.front.keepAliveTimeoutMs > 0) out += `Keep-Alive: timeout=${seconds}\r\n`;
      }
    }
    if (!framed && this.hasBody) {
      out += 'Transfer-Encoding: chunked\r\n';
      this.chunked = true;
    }
    this.head = `${out}\r\n`;
    return this;
  }

  flushHeaders(): void {
    if (this.head === null || this.closed) return;
    this.conn.socket.write(this.head, 'latin1');
    this.head = null;
    this.headersSent = true;
  }

  write(chunk: Buffer | string): boolean {
    if (this.ended || this.closed) return true;
    const socket = this.conn.socket;
    if (this.head !== null) {
      // The head and what follows leave together: held until the next tick or `end`.
      if (!this.corked) {
        this.corked = true;
        socket.cork();
        process.nextTick(releaseCork, this);
      }
      this.flushHeaders();
    }
    if (!this.hasBody) return true;
    const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (length === 0) return true;
    if (!this.chunked) return socket.write(chunk);
    socket.write(`${length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    return socket.write('\r\n', 'latin1');
  }

  end(chunk?: Buffer | string): this {
    if (this.ended) return this;
    if (this.closed) {
      this.ended = true;
      return this;
    }
    if (this.head === null && !this.headersSent) this.writeHead(200, []);
    if (chunk !== undefined) this.write(chunk);
    else if (this.head !== null) this.flushHeaders();
    this.ended = true;
    const socket = this.conn.socket;
    if (this.chunked && this.hasBody) socket.write('0\r\n\r\n', 'latin1');
    this.uncorkOwn();
    if (!this.keepAlive) socket.destroySoon();
    process.nextTick(afterResponse, this);
    return this;
  }

  cork(): void {
    this.conn.socket.cork();
  }

  uncork(): void {
    this.conn.socket.uncork();
  }

  destroy(): this {
    this.conn.socket.destroy();
    return this;
  }

  once(event: 'close' | 'drain' | 'finish', listener: () => void): this {
    if (event === 'close') {
      if (this.closed) return this;
      if (this.closeListeners === null) this.closeListeners = [listener];
      else this.closeListeners.push(listener);
    } else if (event === 'drain') {
      if (this.drainListeners === null) this.drainListeners = [listener];
      else this.drainListeners.push(listener);
    } else if (this.finishListeners === null) this.finishListeners = [listener];
    else this.finishListeners.push(listener);
    return this;
  }

  /** @internal The socket drained. */
  emitDrain(): void {
    const listeners = this.drainListeners;
    if (listeners === null) return;
    this.drainListeners = null;
    for (const l of listeners) l();
  }

  /** @internal The answer is over (ended) or cannot be (the connection closed). */
  emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.uncorkOwn();
    const listeners = this.closeListeners;
    this.closeListeners = null;
    if (listeners) for (const l of listeners) l();
  }

  /** @internal */
  get keepsAlive(): boolean {
    return this.keepAlive;
  }

  /** @internal */
  finishNow(): void {
    const listeners = this.finishListeners;
    this.finishListeners = null;
    if (listeners) for (const l of listeners) l();
    this.emitClose();
  }

  /** @internal */
  uncorkOwn(): void {
    if (!this.corked) return;
    this.corked = false;
    this.conn.socket.uncork();
  }
}

function releaseCork(res: FastResponse): void {
  res.uncorkOwn();
}

function afterResponse(res: FastResponse): void {
  res.finishNow();
  res.conn.responseDone(res);
}

/** One client connection while the fast front holds it. */
class FastConnection {
  /** Bytes received and not yet answered: `buf`, then the chunks in `more` (joined when read). */
  private buf: Buffer | null = null;
  /** Chunks that arrived after `buf`, kept apart so that a body arriving in many reads is copied once. */
  private more: Buffer[] | null = null;
  private moreBytes = 0;
  private current: FastResponse | null = null;
  /** When the request waiting in `buf` began to arrive (for `requestTimeout`). */
  private pendingSince = 0;
  /** The head of a request whose body is still arriving, and its route. */
  private waitingHead: ParsedHead | null = null;
  private waitingRoute: unknown = null;
  /** When the last answer ended (for `keepAliveTimeout`). */
  idleSince = Date.now();
  private gone = false;

  private readonly onData = (chunk: Buffer): void => {
    if (this.buf === null) {
      this.buf = chunk;
      this.pendingSince = Date.now();
    } else {
      if (this.more === null) this.more = [chunk];
      else this.more.push(chunk);
      this.moreBytes += chunk.length;
    }
    const received = this.buf.length + this.moreBytes;
    if (this.current !== null) {
      if (received > this.front.maxBodyBytes + MAX_BUFFERED_AHEAD) this.socket.pause();
      return;
    }
    const head = this.waitingHead;
    if (head !== null && received < head.headBytes + head.contentLength) return; // body still arriving
    this.next();
  };

  /** `buf` with every chunk received since: one copy, made only when the bytes are read. */
  private join(): Buffer | null {
    if (this.more !== null) {
      this.buf = Buffer.concat([this.buf!, ...this.more], this.buf!.length + this.moreBytes);
      this.more = null;
      this.moreBytes = 0;
    }
    return this.buf;
  }

  private readonly onEnd = (): void => {
    // The client will send nothing more. Like `node:http` (no half-open), an answer in progress
    // is abandoned and the connection closed.
    this.socket.end();
    this.current?.emitClose();
  };

  private readonly onClose = (): void => {
    this.gone = true;
    this.front.forget(this);
    this.current?.emitClose();
  };

  private readonly onDrain = (): void => {
    this.current?.emitDrain();
  };

  constructor(
    readonly socket: Socket,
    readonly front: FastFront<unknown>,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('error', noop);
  }

  get busy(): boolean {
    return this.current !== null;
  }

  get hasPartialRequest(): boolean {
    return this.current === null && this.buf !== null;
  }

  /** Answers the request at the start of `buf` if it is whole; hands the connection to Node if it is not ours. */
  private next(): void {
    const buf = this.join();
    if (buf === null || this.gone) return;
    const front = this.front;
    let head = this.waitingHead;
    let route = this.waitingRoute;
    if (head === null) {
      const parsed = parseFastHead(buf, front.maxHeaderBytes);
      if (parsed === undefined) return; // more of the head to come (the sweep hands it over if it stalls)
      if (parsed === null || parsed.contentLength > front.maxBodyBytes) {
        this.handOff();
        return;
      }
      route = front.accept(parsed.method, parsed.url);
      if (route === null) {
        this.handOff();
        return;
      }
      head = parsed;
    }
    const total = head.headBytes + head.contentLength;
    if (buf.length < total) {
      // The body is still arriving: keep what was parsed.
      this.waitingHead = head;
      this.waitingRoute = route;
      return;
    }
    this.waitingHead = null;
    this.waitingRoute = null;
    const body = head.contentLength > 0 ? buf.subarray(head.headBytes, total) : null;
    if (buf.length === total) this.buf = null;
    else {
      this.buf = buf.subarray(total);
      this.pendingSince = Date.now();
    }
    const res = new FastResponse(this, head.keepAlive);
    this.current = res;
    const req: FastRequest = {
      method: head.method,
      url: head.url,
      rawHeaders: head.rawHeaders,
      body,
      remoteAddress: this.socket.remoteAddress,
    };
    try {
      front.handle(route, req, res);
    } catch (err) {
      front.onError(err);
      this.socket.destroy();
    }
  }

  /** @internal The current answer has ended and its listeners have run. */
  responseDone(res: FastResponse): void {
    if (this.current !== res) return;
    this.current = null;
    this.idleSince = Date.now();
    if (this.gone) return;
    if (!res.keepsAlive) {
      this.buf = null;
      this.more = null;
      this.moreBytes = 0;
      return;
    }
    if (this.front.closing) {
      this.socket.destroySoon();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.next();
  }

  /** From this request on, the connection is `node:http`'s, with the bytes not yet answered. */
  handOff(): void {
    const socket = this.socket;
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('close', this.onClose);
    socket.removeListener('drain', this.onDrain);
    socket.removeListener('error', noop);
    this.front.forget(this);
    socket.pause();
    if (this.join() !== null) socket.unshift(this.buf!);
    this.buf = null;
    this.front.handOffToNode(socket);
    socket.resume();
  }

  /** @internal Deadlines, from the front's sweep. */
  sweep(now: number): void {
    if (this.current !== null) return;
    if (this.buf !== null) {
      const front = this.front;
      // A head that has not arrived whole soon is Node's (it times out slow heads itself).
      if (this.waitingHead === null && parseFastHead(this.join()!, front.maxHeaderBytes) === undefined)
        this.handOff();
      else if (now - this.pendingSince > front.requestTimeoutMs) {
        this.socket.write(REQUEST_TIMEOUT_RESPONSE, 'latin1');
        this.socket.destroySoon();
      }
      return;
    }
    const keepAlive = this.front.keepAliveTimeoutMs;
    if (keepAlive > 0 && now - this.idleSince > keepAlive) this.socket.destroy();
  }
}

function noop(): void {}

/**
 * Takes over `server`'s connections: each one starts on the fast path and moves to `node:http`
 * at its first request the fast path does not take. The server's `keepAliveTimeout` and
 * `requestTimeout` are read once, here.
 */
export class FastFront<T> {
  readonly maxBodyBytes: number;
  readonly maxHeaderBytes: number;
  readonly keepAliveTimeoutMs: number;
  readonly keepAliveSeconds: number;
  readonly requestTimeoutMs: number;
  closing = false;
  private readonly connections = new Set<FastConnection>();
  private readonly nodeListener: (socket: Socket) => void;
  private readonly timer: NodeJS.Timeout;
  /** Connections handed to `node:http` so far (tests, and the reason a request was slow). */
  handedOff = 0;

  constructor(
    private readonly server: Server,
    private readonly options: FastFrontOptions<T> & { onError?: (err: unknown) => void },
  ) {
    const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
    if (listeners.length !== 1) throw new Error("FastFront: expected node:http's one connection listener");
    this.nodeListener = listeners[0]!;
    server.removeListener('connection', this.nodeListener);
    server.on('connection', (socket: Socket) => {
      this.connections.add(new FastConnection(socket, this as FastFront<unknown>));
    });
    this.maxBodyBytes = options.maxBodyBytes;
    this.maxHeaderBytes = options.maxHeaderBytes ?? maxHeaderSize;
    this.keepAliveTimeoutMs = server.keepAliveTimeout;
    this.keepAliveSeconds = Math.floor(server.keepAliveTimeout / 1000);
    this.requestTimeoutMs = server.requestTimeout > 0 ? server.requestTimeout : 300_000;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.sweep(now);
    }, SWEEP_MS);
    this.timer.unref();
  }

  accept(method: string, url: string): T | null {
    return this.options.accept(method, url);
  }

  handle(route: unknown, req: FastRequest, res: FastResponse): void {
    this.options.handle(route as T, req, res);
  }

  onError(err: unknown): void {
    this.options.onError?.(err);
  }

  /** @internal */
  forget(conn: FastConnection): void {
    this.connections.delete(conn);
  }

  /** @internal */
  handOffToNode(socket: Socket): void {
    this.handedOff++;
    this.nodeListener.call(this.server, socket);
  }

  /** Connections on the fast path now, and how many of them are answering a request. */
  get stats(): { connections: number; busy: number; handedOff: number } {
    let busy = 0;
    for (const c of this.connections) if (c.busy) busy++;
    return { connections: this.connections.size, busy, handedOff: this.handedOff };
  }

  /**
   * Shutdown: closes the connections with no request in progress (as the server's
   * `closeIdleConnections`); busy ones close once their answer ends.
   */
  closeIdleConnections(): void {
    this.closing = true;
    for (const c of this.connections) if (!c.busy && !c.hasPartialRequest) c.socket.destroy();
  }

  closeAllConnections(): void {
    this.closing = true;
    for (const c of this.connections) c.socket.destroy();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
