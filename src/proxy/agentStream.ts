import type { ServerResponse } from 'node:http';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { ReopenSchedule } from '../heal/streamReopen.js';

const LF = 0x0a;
const CR = 0x0d;
const EVENT_END = Buffer.from('\n\n');
/** Longest event read for its id; past it the stream is not resumed (its bytes still flow). */
const MAX_EVENT_CHARS = 1 << 20;

/**
 * An agent's standalone GET stream on a healing session: one response to the agent, fed by one
 * upstream stream after another. The first upstream stream's headers are the agent's; later
 * ones are spliced in after the events already sent.
 */
export class AgentStream {
  /** The agent has the stream's headers: later upstream answers are spliced in or kept from it. */
  started = false;
  private timer: NodeJS.Timeout | null = null;
  /** The last two bytes sent, to tell whether the agent's parser stands between events. */
  private last = LF;
  private beforeLast = LF;
  /** The upstream session the current stream comes from, and the last event id it sent. */
  private session: string | null = null;
  private lastEventId: { session: string; id: string } | null = null;
  private readonly decoder = new TextDecoder();
  private readonly events: EventSourceParser = createParser({
    maxBufferSize: MAX_EVENT_CHARS,
    onEvent: (event) => {
      if (event.id !== undefined && this.session !== null)
        this.lastEventId = { session: this.session, id: event.id };
    },
    onError: () => {
      this.reading = false;
    },
  });
  private reading = true;

  constructor(
    private readonly res: ServerResponse,
    readonly schedule: ReopenSchedule,
    /** Opens the next upstream stream (on the session the agent's id maps to by then). */
    private readonly reopen: (stream: AgentStream) => void,
  ) {
    res.once('close', this.cancel);
  }

  /** The agent still reads the stream (it has not left, and shutdown has not ended it). */
  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** An upstream stream on `upstreamSessionId` is open and relayed to the agent. */
  opened(upstreamSessionId: string | null): void {
    this.schedule.opened();
    this.session = upstreamSessionId;
    this.events.reset();
    this.reading = true;
  }

  /**
   * The id of the last event the agent got from `upstreamSessionId`, to resume a stream reopened
   * on that same session (a replacement session never sent it).
   */
  lastEventIdOn(upstreamSessionId: string): string | null {
    return this.lastEventId?.session === upstreamSessionId ? this.lastEventId.id : null;
  }

  /** Bytes just sent to the agent. */
  sent(chunk: Buffer): void {
    if (this.reading) {
      try {
        this.events.feed(this.decoder.decode(chunk, { stream: true }));
      } catch {
        this.reading = false;
      }
    }
    if (chunk.length >= 2) {
      this.beforeLast = chunk[chunk.length - 2]!;
      this.last = chunk[chunk.length - 1]!;
    } else if (chunk.length === 1) {
      this.beforeLast = this.last;
      this.last = chunk[0]!;
    }
  }

  /**
   * The upstream stream is over (ended, broke, or could not be opened): open the next one after
   * the schedule's wait, or end the agent's stream when the schedule gives up.
   */
  continue(): void {
    if (!this.open || this.timer !== null) return;
    const delay = this.schedule.next();
    if (delay === null) {
      this.res.end();
      return;
    }
    // An event cut off mid-way is closed here, so that the next stream's first event is read
    // as its own (the cut one reaches the agent's parser malformed, as it would have anyway).
    if (!this.betweenEvents()) {
      this.res.write(EVENT_END);
      this.sent(EVENT_END);
    }
    this.timer = setTimeout(this.fire, delay);
  }

  /** Ends the agent's stream now (the upstream refused it for good). */
  end(): void {
    this.cancel();
    if (this.open) this.res.end();
  }

  private readonly fire = (): void => {
    this.timer = null;
    if (this.open) this.reopen(this);
  };

  private readonly cancel = (): void => {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  };

  /** A blank line ends an event: the parser holds nothing (CRLF streams get a harmless extra one). */
  private betweenEvents(): boolean {
    return (this.last === LF && this.beforeLast === LF) || (this.last === CR && this.beforeLast === CR);
  }
}
