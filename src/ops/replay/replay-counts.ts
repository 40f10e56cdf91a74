/** What a replay has done so far; saved with its positions after every chunk. */
export interface ReplayCounts {
  /** Records read in the range. */
  read: number;
  /** Records that pass --type and --user. */
  matched: number;
  filteredOut: number;
  /** Records that are not a valid event: counted, never handed to a group (its DLQ has them already). */
  malformed: number;
  /**
   * Matching records of erased users (their data key destroyed): reprocessed, a group skips
   * them as it does live; never re-sent. Absent from counts saved before erasure existed.
   */
  erased?: number;
  /** Matching records per event type, and per `topic:partition`. */
  byType: Record<string, number>;
  byPartition: Record<string, number>;
  /** Reprocess: events new to the group, applied now. */
  processed: number;
  /** Reprocess: events the group had already processed (its inbox has them): nothing applied again. */
  skipped: number;
  /** Reprocess: events of another lane of the group. */
  otherLane: number;
  heldBack: number;
  retried: number;
  deadLettered: number;
  /** Resend: events whose notifications were planned again, and events the group had not processed (left to it). */
  resent: number;
  notYetProcessed: number;
  /** Resend: the new ledger rows per channel and status (`sent`, `suppressed`, `failed`…). */
  sends: Record<string, Record<string, number>>;
  /** Republish: records copied to the target topic. */
  republished: number;
}

export function emptyCounts(): ReplayCounts {
  return {
    read: 0,
    matched: 0,
    filteredOut: 0,
    malformed: 0,
    erased: 0,
    byType: {},
    byPartition: {},
    processed: 0,
    skipped: 0,
    otherLane: 0,
    heldBack: 0,
    retried: 0,
    deadLettered: 0,
    resent: 0,
    notYetProcessed: 0,
    sends: {},
    republished: 0,
  };
}

export function addTo(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n;
}
