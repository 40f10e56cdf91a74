import type { Kafka, Producer } from 'kafkajs';
import { routeProducer } from '../../consumer/consumer-runtime';
import type { ReplayCounts } from './replay-counts';
import type { ReplayGroup } from './replay-groups';
import type { ReplayRecord } from './record-filter';
import type { ReplaySink } from './replay-sink';

/**
 * Reprocess: the records go through the group's own pipeline (ConsumerRuntime.processOutsideGroup),
 * beside the live group, which is neither stopped nor rewound. The group's inbox decides: an
 * event it already processed is skipped (counted), a new one is applied and delivered once,
 * and a failure goes to the group's retry tiers or DLQ, where the live group picks it up.
 */
export class ReprocessSink implements ReplaySink {
  private readonly producer: Producer;

  constructor(
    private readonly group: ReplayGroup,
    kafka: Kafka,
  ) {
    this.producer = routeProducer(kafka);
  }

  async open(): Promise<void> {
    await this.group.runtime.ensureTopology();
    await this.producer.connect();
  }

  async process(records: ReplayRecord[], counts: ReplayCounts, signal: AbortSignal): Promise<boolean> {
    const stats = this.group.runtime.stats;
    const before = { ...stats };
    if (!(await this.group.runtime.processOutsideGroup(records.map((r) => r.record), this.producer, signal))) return false;
    counts.processed += stats.processed - before.processed;
    counts.skipped += stats.duplicates - before.duplicates;
    counts.otherLane += stats.skipped - before.skipped;
    counts.heldBack += stats.heldBack - before.heldBack;
    counts.retried += stats.retried - before.retried;
    counts.deadLettered += stats.deadLettered - before.deadLettered;
    return true;
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
