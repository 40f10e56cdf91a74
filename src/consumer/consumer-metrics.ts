import { isEventType } from '../events/catalog';
import { committedRecords, eventsConsumed, eventsFailed, eventsProcessed, processingDuration } from '../observability/metrics';
import { EVENT_TYPE_HEADER } from '../producer/publisher';
import type { ChunkOutcomes } from './chunk-outcomes';
import type { InboundRecord } from './messages';

/** A record's `event_type` label: its decoded type, else its type header when the catalog knows it, else `unknown`. */
function eventTypeOf(record: InboundRecord): string {
  if ('type' in record && typeof record.type === 'string') return record.type;
  const declared = record.headers[EVENT_TYPE_HEADER];
  return declared !== undefined && isEventType(declared) ? declared : 'unknown';
}

/** Adds 1 under `key` (parts joined by NUL, which no label value holds). */
function tally(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/**
 * The Prometheus side of one consumer runtime. Counts are summed per chunk and added with one
 * call per label set, so a chunk of 500 records costs a handful of counter updates.
 * `group` is the Kafka group that read the records: the runtime's group for source topics,
 * `<group>.retry` for its retry tiers.
 */
export class ConsumerMetrics {
  private readonly committed = new Map<string, ReturnType<typeof committedRecords.labels>>();

  /** Creates each group's committed-records counter at 0, so "nothing committed" is a series, not a gap. */
  constructor(groups: readonly string[]) {
    for (const group of groups) {
      const child = committedRecords.labels(group);
      child.inc(0);
      this.committed.set(group, child);
    }
  }

  consumed(group: string, records: readonly InboundRecord[]): void {
    const counts = new Map<string, number>();
    for (const record of records) tally(counts, `${record.topic}\u0000${eventTypeOf(record)}`);
    for (const [key, n] of counts) {
      const [topic, eventType] = key.split('\u0000') as [string, string];
      eventsConsumed.inc({ consumergroup: group, topic, event_type: eventType }, n);
    }
  }

  /** The chunk's records are routed: their outcomes, and how long the chunk took per record. */
  routed(group: string, records: readonly InboundRecord[], outcomes: ChunkOutcomes, seconds: number): void {
    const counts = new Map<string, number>();
    for (const [record, outcome] of outcomes.entries()) tally(counts, `${record.topic}\u0000${eventTypeOf(record)}\u0000${outcome}`);
    for (const [key, n] of counts) {
      const [topic, eventType, outcome] = key.split('\u0000') as [string, string, string];
      const counter = outcome === 'retry' || outcome === 'dead_letter' ? eventsFailed : eventsProcessed;
      counter.inc({ consumergroup: group, topic, event_type: eventType, outcome }, n);
    }
    const perTopic = new Map<string, number>();
    for (const record of records) tally(perTopic, record.topic);
    for (const [topic, n] of perTopic) {
      const histogram = processingDuration.labels(group, topic);
      for (let i = 0; i < n; i++) histogram.observe(seconds);
    }
  }

  committedRecords(group: string, count: number): void {
    (this.committed.get(group) ?? committedRecords.labels(group)).inc(count);
  }
}
