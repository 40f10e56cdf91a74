import { dlqTopic } from '../../src/consumer/retry-topology';
import type { TypedEvent } from '../../src/events/generated';
import { sampleStream, seededRng } from '../../src/events/samples';
import { chaosRandom } from '../helpers/chaos-seed';
import { startConsumerProcess } from '../helpers/consumer-process';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * Crash tests: the notification consumer runs as its own process and is killed the hard
 * way. Database effects (inbox, receipts, ledger) must come out exactly once and no email
 * may be missing. The one duplicate email allowed is the documented window: the process dies
 * after the SMTP server accepted a message and before the ledger recorded it.
 */
// Each test's own waits (restarts, catching up on a 2-core machine) bound it; jest's default
// 120 s is shorter than they allow.
const KILL_TEST_TIMEOUT_MS = 15 * 60_000;
const RESTART_TEST_TIMEOUT_MS = 6 * 60_000;

describe('crash recovery of the notification consumer', () => {
  let ctx: TestContext;

  beforeEach(async () => {
    ctx = await createTestContext({ partitions: 6 });
  });

  afterEach(async () => {
    await ctx.dispose();
  });

  async function publish(events: TypedEvent[]): Promise<void> {
    const publisher = ctx.platform.createPublisher({ maxBatchSize: 1000 });
    await publisher.connect();
    for (let i = 0; i < events.length; i += 2000) {
      await Promise.all(events.slice(i, i + 2000).map((e) => publisher.publish(e.type, e.event)));
    }
    await publisher.disconnect();
  }

  const sentCount = async (): Promise<number> => {
    const row = await ctx.db('delivery_ledger').where({ channel: 'email', status: 'sent' }).count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  };

  async function expectExactlyOnceEffects(events: TypedEvent[]): Promise<{ duplicateEmails: number }> {
    const payments = events.filter((e) => e.type === 'PAYMENT_SUCCEEDED').map((e) => e.event.event_id);
    const receipts: Array<{ event_id: string }> = await ctx.db('receipts').select('event_id');
    expect(receipts).toHaveLength(payments.length);
    expect(new Set(receipts.map((r) => r.event_id))).toEqual(new Set(payments));

    const ledger: Array<{ event_id: string; status: string }> = await ctx.db('delivery_ledger').where({ channel: 'email' }).select('event_id', 'status');
    expect(ledger).toHaveLength(events.length);
    expect(ledger.every((row) => row.status === 'sent')).toBe(true);
    expect(await ctx.db('inbox').count('* as n').first()).toEqual({ n: String(events.length) });

    const mailsPerEvent = new Map<string, number>();
    for (const m of ctx.mail.messages) {
      const id = m.headers['x-tidings-event-id'] ?? '';
      mailsPerEvent.set(id, (mailsPerEvent.get(id) ?? 0) + 1);
    }
    const missing = events.filter((e) => !mailsPerEvent.has(e.event.event_id));
    expect(missing).toEqual([]);
    expect(await countRecords(ctx.platform.kafka, dlqTopic({ name: 'notification', sources: [], delaysMs: [] }, ctx.topics.payment))).toBe(0);
    // A copy sent again carries the Message-ID of the first, so mail systems can drop it.
    const messageIds = new Map<string, string>();
    for (const m of ctx.mail.messages) {
      const id = m.headers['x-tidings-event-id'] ?? '';
      expect(m.messageId).toBe(messageIds.get(id) ?? m.messageId);
      messageIds.set(id, m.messageId);
    }
    return { duplicateEmails: ctx.mail.messages.length - mailsPerEvent.size };
  }

  it('survives kill -9 at 5 random moments during 10,000 mixed events: one receipt, one ledger entry and no missing email per event', async () => {
    const events = sampleStream(10_000, { users: 400, rng: seededRng(7) });
    await publish(events);
    // Kill moments: 5 random points of progress between 5 % and 90 % of the emails.
    const { seed, random } = chaosRandom({ file: 'test/chaos/crash-recovery.test.ts', testPattern: 'kill -9 at 5 random moments' });
    const thresholds = Array.from({ length: 5 }, () => Math.floor(events.length * (0.05 + 0.85 * random()))).sort((a, b) => a - b);
    const kills: number[] = [];
    for (const threshold of thresholds) {
      const consumer = startConsumerProcess(ctx);
      await waitFor(`progress ≥ ${threshold}`, async () => (await sentCount()) >= threshold, 120_000, 20);
      consumer.child.kill('SIGKILL');
      const ended = await consumer.exited;
      expect(ended.signal).toBe('SIGKILL');
      kills.push(await sentCount());
    }
    const last = startConsumerProcess(ctx);
    await waitFor('every event delivered', async () => (await sentCount()) === events.length, 180_000, 250);
    last.child.kill('SIGTERM');
    expect((await last.exited).code).toBe(0);

    const { duplicateEmails } = await expectExactlyOnceEffects(events);
    // At most the emails in flight at each kill (16 concurrent sends) can be sent twice.
    expect(duplicateEmails).toBeLessThanOrEqual(kills.length * 16);
    console.log(`CHAOS_SEED=${seed}: kill -9 at ${kills.join(', ')} emails sent; duplicate emails from the accept→ledger window: ${duplicateEmails}`);
  }, KILL_TEST_TIMEOUT_MS);

  it('after a crash between the database commit and the offset commit, restarts without a duplicate receipt or email', async () => {
    const events = sampleStream(3_000, { users: 200, rng: seededRng(11) });
    await publish(events);
    const crashing = startConsumerProcess(ctx, { env: { TIDINGS_FAULT: 'consumer.before-offset-commit:3' } });
    const crash = await crashing.exited;
    expect(crash.signal).toBe('SIGKILL');
    const before = await sentCount();
    expect(before).toBeGreaterThan(0);

    const consumer = startConsumerProcess(ctx);
    await waitFor('every event delivered', async () => (await sentCount()) === events.length, 120_000, 250);
    consumer.child.kill('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
    const { duplicateEmails } = await expectExactlyOnceEffects(events);
    expect(duplicateEmails).toBe(0);
  }, RESTART_TEST_TIMEOUT_MS);

  it('on SIGTERM finishes the chunk in progress and exits cleanly; a restart continues without duplicates', async () => {
    const events = sampleStream(4_000, { users: 200, rng: seededRng(13) });
    await publish(events);
    const first = startConsumerProcess(ctx);
    await waitFor('some progress', async () => (await sentCount()) >= 500, 120_000, 20);
    first.child.kill('SIGTERM');
    const ended = await first.exited;
    expect(ended).toMatchObject({ code: 0, signal: null });

    const second = startConsumerProcess(ctx);
    await waitFor('every event delivered', async () => (await sentCount()) === events.length, 120_000, 250);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const { duplicateEmails } = await expectExactlyOnceEffects(events);
    expect(duplicateEmails).toBe(0);
  }, RESTART_TEST_TIMEOUT_MS);
});
