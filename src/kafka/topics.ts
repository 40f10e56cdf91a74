import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaJSProtocolError, type Admin } from 'kafkajs';

/** The topics of the event contract. Tests and staging can rename them; production uses the defaults. */
export interface TopicNames {
  auth: string;
  payment: string;
}

export const DEFAULT_TOPICS: TopicNames = { auth: 'auth.events', payment: 'payment.events' };

export type Domain = keyof TopicNames;

/** The contract's topics under a prefix (`staging.` → `staging.auth.events`). */
export function prefixedTopics(prefix: string): TopicNames {
  return { auth: `${prefix}${DEFAULT_TOPICS.auth}`, payment: `${prefix}${DEFAULT_TOPICS.payment}` };
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  config?: Record<string, string>;
}

export function eventTopicSpecs(topics: TopicNames = DEFAULT_TOPICS, partitions = 6): TopicSpec[] {
  return [
    { topic: topics.auth, partitions },
    { topic: topics.payment, partitions },
  ];
}

/** Creates the topics that do not exist yet; returns the names it created. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  // Not kafkajs' waitForLeaders: it gives up on the UNKNOWN_TOPIC_OR_PARTITION a KRaft broker
  // answers for a moment after creating a topic, failing the start of whatever created it.
  await admin.createTopics({
    waitForLeaders: false,
    topics: missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
    })),
  });
  await untilLed(admin, missing.map((s) => s.topic));
  return missing.map((s) => s.topic);
}

/** Resolves once every partition of `topics` has a leader; retriable metadata errors mean "not yet". */
async function untilLed(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      if (metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (error) {
      if (!(error instanceof KafkaJSProtocolError && error.retriable) || Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`no leader for every partition of ${topics.join(', ')} after ${timeoutMs} ms`);
    await sleep(100);
  }
}
