import { randomBytes } from 'node:crypto';
import { LocalStack } from '../../src/dev/stack';
import { listEventDefinitions } from '../../src/events/catalog';
import { ensureTopics, eventTopicSpecs, type TopicNames } from '../../src/kafka/topics';
import { Platform } from '../../src/platform';
import type { EventType } from '../../src/events/generated';

/** Partitions of the bench's event topics: the production default, so batching looks the same. */
export const BENCH_PARTITIONS = 6;

/**
 * The stack as one bench run sees it: the shared broker and registry, but topics (and so
 * registry subjects) named after this run, so a bench never touches anyone else's data and
 * can delete everything it made.
 */
export interface BenchStack {
  id: string;
  topics: TopicNames;
  platform: Platform;
  brokers: string[];
  /** Creates an extra topic owned by this run (deleted by `dispose`); returns its name. */
  createTopic(suffix: string, partitions?: number): Promise<string>;
  dispose(): Promise<void>;
}

export async function openBenchStack(progress: (line: string) => void): Promise<BenchStack> {
  const stack = new LocalStack({ progress });
  await stack.up();

  const id = `bench${randomBytes(3).toString('hex')}`;
  const topics: TopicNames = { auth: `${id}.auth.events`, payment: `${id}.payment.events` };
  const platform = new Platform({ endpoints: stack.endpoints, topics, clientId: id });
  const owned: string[] = [topics.auth, topics.payment];

  const admin = platform.kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, eventTopicSpecs(topics, BENCH_PARTITIONS));
  } finally {
    await admin.disconnect();
  }
  for (const def of listEventDefinitions()) await platform.registry.register(def.type, topics[def.domain]);
  progress(`✓ bench topics ${topics.auth}, ${topics.payment} and their schemas`);

  return {
    id,
    topics,
    platform,
    brokers: stack.endpoints.kafkaBrokers,
    async createTopic(suffix, partitions = BENCH_PARTITIONS) {
      const topic = `${id}.${suffix}`;
      const extraAdmin = platform.kafka.admin();
      await extraAdmin.connect();
      try {
        await ensureTopics(extraAdmin, [{ topic, partitions }]);
      } finally {
        await extraAdmin.disconnect();
      }
      owned.push(topic);
      return topic;
    },
    async dispose() {
      const cleanup = platform.kafka.admin();
      await cleanup.connect();
      await cleanup.deleteTopics({ topics: owned }).catch(() => undefined);
      await cleanup.disconnect();
      for (const def of listEventDefinitions()) await platform.registry.deleteSubject(def.type as EventType, topics[def.domain]).catch(() => undefined);
      await platform.close();
    },
  };
}
