import type { Admin } from 'kafkajs';

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
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
    })),
  });
  return missing.map((s) => s.topic);
}
