import type { Command } from 'commander';
import { startNotificationConsumer } from '../../../consumers/notification';
import { createDb, ensureDatabase, migrateLatest } from '../../db/database';
import { LocalStack } from '../../dev/stack';
import { listEventDefinitions } from '../../events/catalog';
import type { EventType, TypedEvent } from '../../events/generated';
import { sampleStream } from '../../events/samples';
import { eventTopicSpecs, ensureTopics } from '../../kafka/topics';
import { Platform } from '../../platform';
import type { Publisher } from '../../producer/publisher';
import { delay } from '../../dev/background-process';

interface DemoOptions {
  events: string;
  users: string;
  once?: boolean;
}

/**
 * `npm start`: the whole platform locally with sample traffic. Brings the stack up, migrates,
 * registers schemas, creates topics, runs the notification consumer, publishes a realistic
 * stream through the SDK and prints what was delivered; then keeps a trickle going.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the platform locally with sample auth and payment traffic')
    .option('--events <n>', 'events in the first burst', '300')
    .option('--users <n>', 'distinct users in the sample traffic', '40')
    .option('--once', 'exit after the first burst is delivered')
    .action(async (opts: DemoOptions) => runDemo(opts));
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const count = positiveInt(opts.events, '--events');
  const users = positiveInt(opts.users, '--users');
  const started = Date.now();
  const say = (line: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);

  const stack = new LocalStack({ progress: say });
  await stack.up();

  const platform = new Platform({ clientId: 'tidings-demo' });
  await ensureDatabase(platform.endpoints.databaseUrl);
  const migrationDb = createDb(platform.endpoints.databaseUrl);
  const applied = await migrateLatest(migrationDb).finally(() => migrationDb.destroy());
  say(`✓ migrations: ${applied.length ? applied.join(', ') : 'up to date'}`);

  for (const def of listEventDefinitions()) await platform.registry.register(def.type as EventType, platform.topics[def.domain]);
  say(`✓ ${listEventDefinitions().length} schemas registered (BACKWARD)`);

  const admin = platform.kafka.admin();
  await admin.connect();
  const created = await ensureTopics(admin, eventTopicSpecs(platform.topics)).finally(() => admin.disconnect());
  say(`✓ topics: ${created.length ? `created ${created.join(', ')}` : 'exist'}`);

  const consumer = await startNotificationConsumer(platform);
  say('✓ notification consumer group running');

  const publisher = platform.createPublisher();
  await publisher.connect();
  const burst = sampleStream(count, { users });
  await publishAll(publisher, burst);
  say(`→ published ${burst.length} events: ${summarize(burst)}`);

  const ids = burst.map((e) => e.event.event_id);
  const delivered = await waitDelivered(platform, ids, 120_000);
  const receipts = burst.filter((e) => e.type === 'PAYMENT_SUCCEEDED').length;
  say(`✓ delivered: ${delivered} emails sent, ${await countReceipts(platform, ids)} receipts stored (of ${receipts} payments succeeded)`);
  say(`  mail saved in ${stack.mailDir}; inspect with: psql "${platform.endpoints.databaseUrl}" -c 'select * from receipts limit 5'`);

  if (opts.once) {
    await shutdown(consumer.stop, publisher, platform);
    return;
  }
  say('streaming 5 events/s; Ctrl-C to stop (the stack keeps running: `tidings dev down` stops it)');
  let stopping = false;
  process.once('SIGINT', () => (stopping = true));
  process.once('SIGTERM', () => (stopping = true));
  let sent = 0;
  while (!stopping) {
    await publishAll(publisher, sampleStream(5, { users }));
    sent += 5;
    if (sent % 50 === 0) say(`published ${sent} more; consumer stats ${JSON.stringify(consumer.runtime.stats)}`);
    await delay(1000);
  }
  await shutdown(consumer.stop, publisher, platform);
}

async function publishAll(publisher: Publisher, events: TypedEvent[]): Promise<void> {
  await Promise.all(events.map((e) => publisher.publish(e.type, e.event)));
}

async function waitDelivered(platform: Platform, ids: string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await platform.db('delivery_ledger').whereIn('event_id', ids).andWhere({ channel: 'email', status: 'sent' }).count<{ count: string }[]>('* as count').first();
    const sent = Number(row?.count ?? 0);
    if (sent >= ids.length || Date.now() > deadline) return sent;
    await delay(250);
  }
}

async function countReceipts(platform: Platform, ids: string[]): Promise<number> {
  const row = await platform.db('receipts').whereIn('event_id', ids).count<{ count: string }[]>('* as count').first();
  return Number(row?.count ?? 0);
}

async function shutdown(stopConsumer: () => Promise<void>, publisher: Publisher, platform: Platform): Promise<void> {
  await publisher.disconnect();
  await stopConsumer();
  await platform.close();
}

function summarize(events: TypedEvent[]): string {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(', ');
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer (got "${value}")`);
  return n;
}
