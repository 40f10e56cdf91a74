import pLimit from 'p-limit';
import type { LedgerOutcomes, OutcomeEntry } from './ledger-outcomes';

/** Outcomes recorded in one statement at most; a larger wave writes in several. */
const MAX_BATCH_ROWS = 200;
/**
 * The longest an outcome waits for others to join its statement. It bounds how much longer
 * than a single-row write a sent row stays unrecorded (the window in which a crash leads to
 * a second send after the lease), and a wave's last outcome never waits for it.
 */
const MAX_LINGER_MS = 50;

type Queued = { entry: OutcomeEntry; resolve: (recorded: boolean) => void; reject: (error: unknown) => void };

/** One row's place in a wave: it records its outcome through the wave, or leaves without one. */
export interface WaveSlot {
  /** Queues the row's outcome; resolves with whether its claim still held the row (see LedgerOutcomes). */
  record(entry: OutcomeEntry): Promise<boolean>;
  /** The row has nothing (more) to record. Idempotent. */
  leave(): void;
}

/**
 * The sends of one wave of claimed rows and the ledger writes after them. At most
 * `concurrency` provider sends run at a time; a row's outcome is written after its send has
 * freed its place, so the sends keep going while outcomes collect, and the outcomes go to
 * the ledger many rows per statement: when every row of the wave has its outcome queued,
 * when MAX_BATCH_ROWS are waiting, or after MAX_LINGER_MS.
 */
export class SendWave {
  private readonly limit: ReturnType<typeof pLimit>;
  /** Rows that may still queue an outcome. */
  private open = 0;
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly outcomes: LedgerOutcomes,
    concurrency: number,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** Runs one provider send (with what decides it) when a place is free. */
  send<T>(work: () => Promise<T>): Promise<T> {
    return this.limit(work);
  }

  /** A row enters the wave; its slot records its outcome. */
  join(): WaveSlot {
    this.open++;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      this.open--;
      this.schedule();
    };
    return {
      record: (entry) => {
        const recorded = new Promise<boolean>((resolve, reject) => this.queue.push({ entry, resolve, reject }));
        leave();
        this.schedule();
        return recorded;
      },
      leave,
    };
  }

  private schedule(): void {
    if (this.queue.length === 0) return;
    if (this.open === 0 || this.queue.length >= MAX_BATCH_ROWS) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), MAX_LINGER_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH_ROWS);
      this.outcomes.recordMany(batch.map((q) => q.entry)).then(
        (recorded) => batch.forEach((q, i) => q.resolve(recorded[i] === true)),
        (error: unknown) => batch.forEach((q) => q.reject(error)),
      );
    }
  }
}
