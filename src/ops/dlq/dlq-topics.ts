import type { Kafka } from 'kafkajs';
import { retryTopic } from '../../consumer/retry-topology';

/** The runtime name of the dead-letter index group; its own tiers and DLQ are never indexed. */
export const DLQ_INDEX_NAME = 'dlq-index';

/**
 * The group name in a DLQ topic `<source>.<name>.dlq` (src/consumer/retry-topology.ts), or
 * undefined for any other topic. Group names of Tidings' groups have no dots, so the index's
 * own DLQs (`<source>.<name>.dlq.dlq-index.dlq`) never match.
 */
export function dlqGroupName(topic: string, source: string): string | undefined {
  if (!topic.startsWith(`${source}.`) || !topic.endsWith('.dlq')) return undefined;
  const name = topic.slice(source.length + 1, -'.dlq'.length);
  return /^[A-Za-z0-9_-]+$/.test(name) && name !== DLQ_INDEX_NAME ? name : undefined;
}

/** The DLQ topics of every group over `sources` that exist on the broker now, sorted. */
export async function discoverDlqTopics(kafka: Kafka, sources: readonly string[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    return topics.filter((topic) => sources.some((source) => dlqGroupName(topic, source) !== undefined)).sort();
  } finally {
    await admin.disconnect();
  }
}

/** The first retry tier of the group that dead-lettered into `dlqTopic` (`payment.events.notification.retry.1`). */
export function firstRetryTier(dlqTopic: string, source: string): string | undefined {
  const name = dlqGroupName(dlqTopic, source);
  return name === undefined ? undefined : retryTopic({ name, sources: [source], delaysMs: [] }, source, 1);
}
