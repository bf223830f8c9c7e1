// Exchange ids given by the writer, so that a batch sent again writes each row once.
//
// A batch can commit and still look failed to whoever sent it: the store process dies after the
// commit and before it answers, or a PostgreSQL connection drops after COMMIT and before the
// acknowledgement. The recorder then sends the same observations again. Each exchange record is
// given its row id the first time it is sent, from a block the store reserved for this writer
// alone (no other process numbers from it), and keeps it on every retry; the store inserts with
// `ON CONFLICT (id) DO NOTHING`. The numbering happens in the process that holds the recorder's
// queue: the records crossing to the store process are copies, so an id remembered there would
// not survive its death.
import type { ExchangeRecord, Observation } from '../sessions/types.js';

/** Ids `first` to `first + count - 1`, reserved for one writer. */
export interface ExchangeIdBlock {
  first: number;
  count: number;
}

/**
 * Ids per block: block * 2^24 + n stays an exact JavaScript number up to block 2^29 (536 million
 * reservations; a process reserves one at its first write and one more per 16.7 million exchanges).
 */
export const EXCHANGE_ID_BLOCK_SIZE = 2 ** 24;

export function exchangeIdBlock(block: number): ExchangeIdBlock {
  return { first: block * EXCHANGE_ID_BLOCK_SIZE, count: EXCHANGE_ID_BLOCK_SIZE };
}

/**
 * Numbers exchange records, each once. A record object must not be reused for a different
 * exchange (the tracker creates one per exchange).
 */
export class ExchangeIds {
  private readonly ids = new WeakMap<ExchangeRecord, number>();
  private next = 0;
  private left = 0;
  private reserving: Promise<void> | null = null;

  constructor(private readonly reserve: () => Promise<ExchangeIdBlock>) {}

  /** The ids of the batch's exchanges, in batch order: a record seen before keeps its id. */
  async of(batch: readonly Observation[]): Promise<number[]> {
    const out: number[] = [];
    for (const obs of batch) {
      if (obs.type !== 'exchange') continue;
      let id = this.ids.get(obs.exchange);
      if (id === undefined) {
        while (this.left === 0) await this.refill();
        id = this.next++;
        this.left--;
        this.ids.set(obs.exchange, id);
      }
      out.push(id);
    }
    return out;
  }

  private refill(): Promise<void> {
    // Two writes waiting for a block at once share one reservation.
    this.reserving ??= this.reserve()
      .then((block) => {
        this.next = block.first;
        this.left = block.count;
      })
      .finally(() => {
        this.reserving = null;
      });
    return this.reserving;
  }
}
