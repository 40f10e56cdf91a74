import type { EventRecord, InboundRecord } from './messages';

/**
 * What became of a record that did not fail: applied, already applied, another lane's, waiting
 * behind its key, or skipped because its user was erased (their data key destroyed).
 */
export type ProcessedOutcome = 'success' | 'duplicate' | 'skipped' | 'held' | 'erased';
/** Where a failed record went: a retry tier or the DLQ (malformed records too). */
export type FailedOutcome = 'retry' | 'dead_letter';
export type RecordOutcome = ProcessedOutcome | FailedOutcome;

/**
 * The outcome of each record of one chunk, one per record, written as the chunk is worked
 * through and read once its routes are produced (an attempt that fails on an outage is thrown
 * away with its outcomes, so a retried chunk is counted once). A record is the object the
 * chunk read, or once decoded its event.
 */
export class ChunkOutcomes {
  private readonly outcomes = new Map<InboundRecord, RecordOutcome>();

  /** Sets the outcome of `record`, replacing an earlier one (a delivered event that then failed). */
  set(record: InboundRecord, outcome: RecordOutcome): void {
    this.outcomes.set(record, outcome);
  }

  /** Events without an outcome yet went through: `success` when `applied` holds them, else `duplicate`. */
  settle(events: Iterable<EventRecord>, applied: ReadonlySet<EventRecord>): void {
    for (const event of events) if (!this.outcomes.has(event)) this.outcomes.set(event, applied.has(event) ? 'success' : 'duplicate');
  }

  entries(): IterableIterator<[InboundRecord, RecordOutcome]> {
    return this.outcomes.entries();
  }
}
