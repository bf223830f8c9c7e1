// Draining an HTTP/1.1 server without resetting a request (docs/decisions/0021-drain-and-shutdown.md).
//
// `server.close()` in Node 19+ destroys every idle keep-alive connection at once. A client that
// has just sent its next request on such a connection (it is on the wire, or in the socket's
// buffer, not yet parsed) then gets a reset, and a POST that may or may not have run cannot be
// retried safely. Draining instead:
//   - stops accepting connections (the listening socket closes; new connections are refused,
//     which a client can always retry);
//   - answers every request from then on, and every one still in progress whose headers are not
//     out yet, with `Connection: close`, so its client opens its next connection elsewhere;
//   - closes a connection only after it has been idle for `idleCloseMs` since draining began:
//     a request already on the wire arrives well within that and is answered (with close).
import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

export interface DrainOptions {
  /** How long an idle connection is kept after draining starts, for a request already on the wire. */
  idleCloseMs?: number;
  /** How often idle connections are looked at. */
  sweepMs?: number;
  /**
   * Close only connections that carried a request through `server`'s request listeners: another
   * front that takes connections over (and closes its own) owns the others.
   */
  onlyAfterRequest?: boolean;
  now?: () => number;
}

export interface Drain {
  readonly draining: boolean;
  /** Connections open now, and how many of them are answering a request. */
  connections(): { open: number; busy: number };
  /**
   * Starts draining; resolves when the last connection has closed. Idempotent.
   * Streams that never end by themselves (GET streams) are the caller's to end.
   */
  start(): Promise<void>;
  /** Out of time: destroys every connection still open. */
  forceClose(): void;
}

interface ConnectionState {
  busy: number;
  idleSince: number;
  requests: number;
}

/** Tracks `server`'s connections and responses so that it can be drained (call before it listens). */
export function drainable(
  server: Server,
  { idleCloseMs = 2000, sweepMs = 50, onlyAfterRequest = false, now = Date.now }: DrainOptions = {},
): Drain {
  const connections = new Map<Socket, ConnectionState>();
  const inProgress = new Set<ServerResponse>();
  let draining = false;
  let drainStartedAt = 0;
  let closed: Promise<void> | null = null;

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { busy: 0, idleSince: now(), requests: 0 });
    socket.once('close', () => connections.delete(socket));
  });
  // First among the request listeners: an app that writes its headers at once still answers close.
  server.prependListener('request', (req, res: ServerResponse) => {
    const state = connections.get(req.socket);
    if (state) {
      state.busy += 1;
      state.requests += 1;
    }
    inProgress.add(res);
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      inProgress.delete(res);
      if (state) {
        state.busy -= 1;
        state.idleSince = now();
      }
    });
  });

  function sweep(): void {
    const t = now();
    for (const [socket, state] of connections) {
      if (state.busy > 0 || (onlyAfterRequest && state.requests === 0)) continue;
      if (t - Math.max(state.idleSince, drainStartedAt) >= idleCloseMs) socket.destroy();
    }
  }

  return {
    get draining() {
      return draining;
    },
    connections() {
      let busy = 0;
      for (const s of connections.values()) if (s.busy > 0) busy++;
      return { open: connections.size, busy };
    },
    start() {
      closed ??= new Promise<void>((resolve) => {
        draining = true;
        drainStartedAt = now();
        for (const res of inProgress) if (!res.headersSent) res.shouldKeepAlive = false;
        const timer = setInterval(sweep, sweepMs);
        timer.unref();
        // net.Server's close, not http.Server's: stop listening without destroying idle connections.
        NetServer.prototype.close.call(server, () => {
          clearInterval(timer);
          resolve();
        });
        sweep();
      });
      return closed;
    },
    forceClose() {
      for (const [socket, state] of connections)
        if (!onlyAfterRequest || state.requests > 0) socket.destroy();
      server.closeAllConnections();
    },
  };
}
