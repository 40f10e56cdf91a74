import { randomBytes } from 'node:crypto';
import { createDb, dropDatabase, ensureDatabase, migrateLatest } from '../../src/db/database';
import { listEventDefinitions } from '../../src/events/catalog';
import { ensureTopics, eventTopicSpecs, type TopicNames } from '../../src/kafka/topics';
import { Platform } from '../../src/platform';
import { BENCH_PARTITIONS, type BenchStack } from './bench-stack';

/**
 * A scenario's own corner of the run's broker, registry and PostgreSQL server, for scenarios
 * that run consumer groups: event topics (and their schema subjects) of its own, and fresh
 * migrated databases on demand, so consumer state (inbox, ledger, offsets) starts empty.
 * `dispose` removes all of it, including the retry and DLQ topics consumer groups create
 * under the same prefix.
 */
export interface IsolatedStack {
  /** Prefix of every topic, group and database this scenario creates. */
  id: string;
  topics: TopicNames;
  /** Creates and migrates a database of its own (`tidings_<id>_<n>`); returns its URL. */
  createDatabase(): Promise<string>;
  /** A Platform on these topics, `databaseUrl` (default: the run's) and `smtpUrl` (default: the run's); closed by `dispose`. */
  platform(options?: { databaseUrl?: string; smtpUrl?: string }): Platform;
  dispose(): Promise<void>;
}

export async function openIsolatedStack(stack: BenchStack, prefix: string): Promise<IsolatedStack> {
  const id = `${prefix}${randomBytes(3).toString('hex')}`;
  const topics: TopicNames = { auth: `${id}.auth.events`, payment: `${id}.payment.events` };
  const { endpoints } = stack.platform;
  const databases: string[] = [];
  const platforms: Platform[] = [];

  const admin = stack.platform.kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, eventTopicSpecs(topics, BENCH_PARTITIONS));
  } finally {
    await admin.disconnect();
  }
  for (const def of listEventDefinitions()) await stack.platform.registry.register(def.type, topics[def.domain]);

  return {
    id,
    topics,
    async createDatabase() {
      const url = new URL(endpoints.databaseUrl);
      url.pathname = `/tidings_${id}_${databases.length + 1}`;
      const databaseUrl = url.toString();
      await ensureDatabase(databaseUrl);
      databases.push(databaseUrl);
      const migrator = createDb(databaseUrl, { schema: endpoints.databaseSchema });
      await migrateLatest(migrator).finally(() => migrator.destroy());
      return databaseUrl;
    },
    platform(options = {}) {
      const own = { databaseUrl: options.databaseUrl ?? endpoints.databaseUrl, smtpUrl: options.smtpUrl ?? endpoints.smtpUrl };
      const platform = new Platform({ endpoints: { ...endpoints, ...own }, topics, clientId: id });
      platforms.push(platform);
      return platform;
    },
    async dispose() {
      await Promise.all(platforms.map((p) => p.close()));
      const cleanup = stack.platform.kafka.admin();
      await cleanup.connect();
      try {
        const ours = (await cleanup.listTopics()).filter((t) => t.startsWith(`${id}.`));
        await cleanup.deleteTopics({ topics: ours }).catch(() => undefined);
      } finally {
        await cleanup.disconnect();
      }
      for (const def of listEventDefinitions()) await stack.platform.registry.deleteSubject(def.type, topics[def.domain]).catch(() => undefined);
      for (const databaseUrl of databases) await dropDatabase(databaseUrl);
    },
  };
}
