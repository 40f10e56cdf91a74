import type { TopicSpec } from '../kafka/topics';

/**
 * Retry and dead-letter topics of one consumer group. Each source topic gets its own
 * tiers and DLQ, named after the group so several groups reading one topic never mix:
 *
 *   <source>.<name>.retry.1 … <source>.<name>.retry.N   (delays[0] … delays[N-1])
 *   <source>.<name>.dlq
 *
 * e.g. `payment.events.notification.retry.1`, `payment.events.notification.dlq`.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [10_000, 60_000, 600_000, 3_600_000];

export interface RetryTopology {
  /** Short name of the consumer group, used in topic names (`notification`). */
  name: string;
  sources: string[];
  delaysMs: readonly number[];
}

export type TopicRole = { kind: 'source'; source: string } | { kind: 'retry'; source: string; tier: number } | { kind: 'dlq'; source: string };

export function retryTopic(topology: RetryTopology, source: string, tier: number): string {
  return `${source}.${topology.name}.retry.${tier}`;
}

export function dlqTopic(topology: RetryTopology, source: string): string {
  return `${source}.${topology.name}.dlq`;
}

export function retryTopics(topology: RetryTopology): string[] {
  return topology.sources.flatMap((source) => topology.delaysMs.map((_, i) => retryTopic(topology, source, i + 1)));
}

/** Works out what a topic is in this topology from its name. */
export function roleOf(topology: RetryTopology, topic: string): TopicRole {
  for (const source of topology.sources) {
    if (topic === source) return { kind: 'source', source };
    if (topic === dlqTopic(topology, source)) return { kind: 'dlq', source };
    const prefix = `${source}.${topology.name}.retry.`;
    if (topic.startsWith(prefix)) {
      const tier = Number(topic.slice(prefix.length));
      if (Number.isInteger(tier) && tier >= 1 && tier <= topology.delaysMs.length) return { kind: 'retry', source, tier };
    }
  }
  throw new Error(`topic ${topic} is not part of the ${topology.name} topology`);
}

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The least a tier keeps its records: well past its delay, so a record waiting for its due
 * time (or a line of held records behind it) is never deleted first.
 */
export function tierFloorMs(delayMs: number): number {
  return 3 * delayMs;
}

/**
 * How long a tier keeps its records: past its floor, and at least a week, to ride out a
 * consumer that is down for days.
 */
export function tierRetentionMs(delayMs: number): number {
  return Math.max(WEEK_MS, tierFloorMs(delayMs));
}

/**
 * Tier and DLQ topics, with as many partitions as their source so keys keep their order. They
 * hold copies of the source's records: a source with a retention of its own (payment.events,
 * TIDINGS_PAYMENT_RETENTION) caps theirs (TopicSpec.copyOf), a tier never below its floor.
 */
export function topologyTopicSpecs(topology: RetryTopology, partitionsOf: (source: string) => number): TopicSpec[] {
  return topology.sources.flatMap((source) => {
    const partitions = partitionsOf(source);
    return [
      ...topology.delaysMs.map((delay, i) => ({
        topic: retryTopic(topology, source, i + 1),
        partitions,
        minRetentionMs: tierRetentionMs(delay),
        copyOf: { topic: source, floorMs: tierFloorMs(delay) },
      })),
      // Dead letters are kept for review until someone redrives them (or as long as their source keeps records).
      { topic: dlqTopic(topology, source), partitions, config: { 'retention.ms': '-1' }, copyOf: { topic: source } },
    ];
  });
}
