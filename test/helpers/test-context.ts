import { randomBytes } from 'node:crypto';
import { resolveEndpoints } from '../../src/config/env';
import { createDb, dropDatabase, ensureDatabase, migrateLatest, type Db } from '../../src/db/database';
import { MailCatcher } from '../../src/dev/mail-catcher';
import { listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { eventTopicSpecs, ensureTopics, type TopicNames } from '../../src/kafka/topics';
import { Platform } from '../../src/platform';

/**
 * Everything one test file needs on the real stack, isolated from other files: its own
 * topics (and so its own registry subjects), its own PostgreSQL database and its own SMTP
 * server. `dispose()` removes all of it.
 */
export interface TestContext {
  id: string;
  topics: TopicNames;
  platform: Platform;
  db: Db;
  mail: MailCatcher;
  databaseUrl: string;
  groupId(name: string): string;
  dispose(): Promise<void>;
}

export async function createTestContext(options: { partitions?: number; retainMailBodies?: boolean } = {}): Promise<TestContext> {
  const id = `t${randomBytes(4).toString('hex')}`;
  const base = resolveEndpoints();
  const dbUrl = new URL(base.databaseUrl);
  dbUrl.pathname = `/tidings_${id}`;
  const databaseUrl = dbUrl.toString();
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, { schema: base.databaseSchema });
  await migrateLatest(db);

  const mail = await MailCatcher.start({ retainBodies: options.retainMailBodies ?? true });
  const topics: TopicNames = { auth: `${id}.auth.events`, payment: `${id}.payment.events` };
  const platform = new Platform({
    endpoints: { ...base, databaseUrl, smtpUrl: mail.url },
    topics,
    clientId: `test-${id}`,
  });

  const admin = platform.kafka.admin();
  await admin.connect();
  await ensureTopics(admin, eventTopicSpecs(topics, options.partitions ?? 3));
  await admin.disconnect();
  for (const def of listEventDefinitions()) await platform.registry.register(def.type as EventType, topics[def.domain]);

  return {
    id,
    topics,
    platform,
    db,
    mail,
    databaseUrl,
    groupId: (name) => `${id}.${name}`,
    async dispose() {
      await platform.close();
      await db.destroy();
      await mail.close();
      const cleanupAdmin = platform.kafka.admin();
      await cleanupAdmin.connect();
      // Source topics and everything derived from them (retry tiers, DLQs) share the prefix.
      const ours = (await cleanupAdmin.listTopics()).filter((t) => t.startsWith(`${id}.`));
      await cleanupAdmin.deleteTopics({ topics: ours }).catch(() => undefined);
      await cleanupAdmin.disconnect();
      for (const def of listEventDefinitions()) await platform.registry.deleteSubject(def.type as EventType, topics[def.domain]).catch(() => undefined);
      await dropDatabase(databaseUrl);
    },
  };
}
