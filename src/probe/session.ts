// One probe session on one upstream: open it (initialize, notifications/initialized,
// a first tools/list), call tools/list or ping on it, optionally hold a GET stream,
// and close it. Timing and classification come from the tracker records.
import { readInitializeResult } from '../sessions/jsonrpc.js';
import { LATEST_PROTOCOL_VERSION } from './protocol.js';
import type { ExchangeResult, HeldStream, ProbeWire } from './wire.js';

export const PROBE_CLIENT_INFO = { name: 'mcp-session-probe', version: '0.1.0' } as const;

export interface OpenedSession {
  session: ProbeSession | null;
  init: ExchangeResult;
  initialized: ExchangeResult | null;
  firstCall: ExchangeResult | null;
  /** Which step failed, when the session could not be opened. */
  failure: {
    step: 'initialize' | 'notifications/initialized' | 'tools/list';
    exchange: ExchangeResult;
  } | null;
}

export class ProbeSession {
  protocolVersion: string | null;
  serverName: string | null = null;
  serverVersion: string | null = null;
  private stream: HeldStream | null = null;
  private closed = false;

  private constructor(
    private readonly wire: ProbeWire,
    /** Upstream-issued id; null for a stateless upstream. */
    readonly sessionId: string | null,
    protocolVersion: string | null,
  ) {
    this.protocolVersion = protocolVersion;
  }

  /** initialize → notifications/initialized → tools/list (the cold first call). */
  static async open(
    wire: ProbeWire,
    onInitialize?: (init: ExchangeResult) => void,
    /** Runs after notifications/initialized, before the first call (a GET stream opens here, as SDK clients do). */
    beforeFirstCall?: (session: ProbeSession) => Promise<void>,
  ): Promise<OpenedSession> {
    const init = await wire.post({
      method: 'initialize',
      params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: PROBE_CLIENT_INFO },
    });
    onInitialize?.(init);
    if (init.outcome !== 'ok' || init.result === null) {
      return {
        session: null,
        init,
        initialized: null,
        firstCall: null,
        failure: { step: 'initialize', exchange: init },
      };
    }
    const info = readInitializeResult(JSON.stringify({ result: init.result }));
    const session = new ProbeSession(
      wire,
      init.issuedSessionId,
      info.protocolVersion ?? LATEST_PROTOCOL_VERSION,
    );
    session.serverName = info.serverName;
    session.serverVersion = info.serverVersion;
    const initialized = await wire.post({ method: 'notifications/initialized' }, session.sendOptions());
    if (initialized.outcome !== 'ok') {
      return {
        session,
        init,
        initialized,
        firstCall: null,
        failure: { step: 'notifications/initialized', exchange: initialized },
      };
    }
    await beforeFirstCall?.(session);
    const firstCall = await session.listTools();
    return {
      session,
      init,
      initialized,
      firstCall,
      failure: firstCall.outcome === 'ok' ? null : { step: 'tools/list', exchange: firstCall },
    };
  }

  private sendOptions() {
    return { sessionId: this.sessionId, protocolVersion: this.protocolVersion };
  }

  listTools(): Promise<ExchangeResult> {
    return this.wire.post({ method: 'tools/list' }, this.sendOptions());
  }

  ping(): Promise<ExchangeResult> {
    return this.wire.post({ method: 'ping' }, this.sendOptions());
  }

  /** Holds a standalone GET stream (`--hold-stream`); true when the upstream accepted it. */
  async holdStream(): Promise<boolean> {
    if (this.sessionId === null) return false;
    this.stream = await this.wire.openStream(this.sessionId, this.protocolVersion);
    return this.stream.open;
  }

  /** The held stream is still open (the server has not ended it). */
  get streamHeld(): boolean {
    return this.stream?.open ?? false;
  }

  /** Ends the held stream and, unless the session is known dead, DELETEs it. Returns the DELETE exchange. */
  async close({ delete: del }: { delete: boolean }): Promise<ExchangeResult | null> {
    if (this.closed) return null;
    this.closed = true;
    this.stream?.close();
    await this.stream?.ended;
    // A legacy HTTP+SSE session's stream must be closed even when it is not DELETEd.
    if (!del && this.sessionId !== null) await this.wire.release?.(this.sessionId);
    if (!del || this.sessionId === null) {
      if (this.sessionId !== null)
        this.wire.opts.tracker.end(this.wire.opts.upstream, this.sessionId, 'probe_closed');
      return null;
    }
    const answer = await this.wire.delete(this.sessionId, this.protocolVersion);
    // A server without DELETE keeps the session; the tracker forgets it as closed by us.
    if (answer.httpStatus === null || answer.httpStatus >= 300)
      this.wire.opts.tracker.end(this.wire.opts.upstream, this.sessionId, 'probe_closed');
    return answer;
  }
}

export function toolsReturned(exchange: ExchangeResult): number | null {
  const tools = exchange.result?.['tools'];
  return Array.isArray(tools) ? tools.length : null;
}
