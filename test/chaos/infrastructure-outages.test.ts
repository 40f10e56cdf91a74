import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { dlqTopic } from '../../src/consumer/retry-topology';
import { KafkaServer } from '../../src/dev/kafka-server';
import { stackHome } from '../../src/dev/paths';
import type { TypedEvent } from '../../src/events/generated';
import { sampleStream, seededRng } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * Outages of the infrastructure itself: the broker restarts, PostgreSQL stops. Work pauses
 * and resumes; nothing is lost, skipped, duplicated or dead-lettered.
 */
describe('infrastructure outages', () => {
  let ctx: TestContext;
  let consumer: NotificationConsumer;
  let publisher: Publisher;

  beforeEach(async () => {
    ctx = await createTestContext({ partitions: 3 });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    consumer = await startNotificationConsumer(ctx.platform, {
      groupId: ctx.groupId('notification'),
      outageBackoff: { initialMs: 200, maxMs: 2_000 },
    });
  });

  afterEach(async () => {
    await consumer.stop();
    await publisher.disconnect();
    await ctx.dispose();
  });

  const sentCount = async (): Promise<number> => {
    const row = await ctx.db('delivery_ledger').where({ channel: 'email', status: 'sent' }).count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  };

  /** Publishes like a careful service: a publish that fails during an outage is retried until acknowledged. */
  async function publishUntilAcked(events: TypedEvent[]): Promise<number> {
    let failures = 0;
    for (let i = 0; i < events.length; i += 100) {
      const slice = events.slice(i, i + 100);
      for (;;) {
        try {
          await Promise.all(slice.map((e) => publisher.publish(e.type, e.event)));
          break;
        } catch {
          failures++;
        }
      }
    }
    return failures;
  }

  async function expectAllOnce(events: TypedEvent[]): Promise<void> {
    const payments = events.filter((e) => e.type === 'PAYMENT_SUCCEEDED').length;
    expect(await ctx.db('receipts').count('* as n').first()).toEqual({ n: String(payments) });
    expect(await ctx.db('delivery_ledger').where({ channel: 'email', status: 'sent' }).count('* as n').first()).toEqual({ n: String(events.length) });
    const delivered = new Set(ctx.mail.messages.map((m) => m.headers['x-tidings-event-id']));
    expect(events.filter((e) => !delivered.has(e.event.event_id))).toEqual([]);
    expect(ctx.mail.messages.length).toBe(events.length);
    const topology = { name: 'notification', sources: [], delaysMs: [] };
    expect(await countRecords(ctx.platform.kafka, dlqTopic(topology, ctx.topics.payment))).toBe(0);
    expect(await countRecords(ctx.platform.kafka, dlqTopic(topology, ctx.topics.auth))).toBe(0);
  }

  it('restarting the broker mid-run loses nothing and duplicates no receipt', async () => {
    const events = sampleStream(3_000, { users: 150, rng: seededRng(21) });
    const firstHalf = events.slice(0, 1_500);
    await publishUntilAcked(firstHalf);
    await waitFor('the consumer to be working', async () => (await sentCount()) >= 300, 60_000, 20);

    const broker = new KafkaServer({ home: stackHome() });
    const publishing = publishUntilAcked(events.slice(1_500));
    await broker.stop();
    await broker.start();
    await publishing;

    await waitFor('every event delivered', async () => (await sentCount()) === events.length, 180_000, 250);
    await expectAllOnce(events);
  });

  it('stopping PostgreSQL mid-run stalls the consumer; after the restart it finishes with zero loss and nothing in the DLQ', async () => {
    const cluster = postgresCluster();
    const events = sampleStream(2_000, { users: 100, rng: seededRng(23) });
    await publishUntilAcked(events);
    await waitFor('the consumer to be working', async () => (await sentCount()) >= 200, 60_000, 20);

    pgctl(cluster, 'stop');
    try {
      // Failed database work: whole chunks retried in place, or a sent email's ledger update retried.
      const failedAttempts = (): number => consumer.runtime.stats.infrastructureRetries + consumer.handler.stats.ledgerRetries;
      await waitFor('the consumer to notice the outage', () => failedAttempts() >= 3, 60_000);
      const stalledAt = consumer.runtime.stats.processed;
      await waitFor('more failed attempts while down', () => failedAttempts() >= 6, 60_000);
      expect(consumer.runtime.stats.processed).toBe(stalledAt);
    } finally {
      pgctl(cluster, 'start');
    }
    await waitFor('every event delivered', async () => (await sentCount()) === events.length, 180_000, 250);
    await expectAllOnce(events);
    expect(consumer.runtime.stats.deadLettered).toBe(0);
  });
});

/** The local PostgreSQL cluster behind DATABASE_URL, as `<version> <name>` for pg_ctlcluster. */
function postgresCluster(): [string, string] {
  const versions = fs.existsSync('/etc/postgresql') ? fs.readdirSync('/etc/postgresql') : [];
  const version = versions.sort().pop();
  if (!version) throw new Error('this test stops and starts the local PostgreSQL with pg_ctlcluster; none found under /etc/postgresql');
  return [version, 'main'];
}

function pgctl([version, name]: [string, string], action: 'stop' | 'start'): void {
  const args = action === 'stop' ? [version, name, 'stop', '-m', 'fast'] : [version, name, 'start'];
  const result = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`pg_ctlcluster ${args.join(' ')} failed: ${result.stderr}`);
}
