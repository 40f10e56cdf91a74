import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { startConsumerProcess } from '../helpers/consumer-process';
import { TcpProxy } from '../helpers/tcp-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/**
 * SIGTERM while the notification process cannot reach PostgreSQL (its connection goes
 * through a proxy this test cuts; the shared server keeps running): the process exits
 * promptly instead of retrying the ledger forever, and the next process delivers every
 * email, duplicating at most the sends that were accepted but never recorded.
 */
describe('shutdown during a database outage', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let proxy: TcpProxy;

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    const db = new URL(ctx.databaseUrl);
    proxy = await TcpProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
  });

  afterAll(async () => {
    ctx?.mail.slowDown(0);
    await proxy?.close();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  it('SIGTERM during an outage exits within 15 s; after a restart every email is delivered, duplicates only for sends never recorded', async () => {
    const SHUTDOWN_BOUND_MS = 15_000;
    const events = Array.from({ length: 24 }, () => sampleEvent('PASSWORD_RESET_REQUESTED'));
    const mailsOf = (eventId: string): number => ctx.mail.messages.filter((m) => m.headers['x-tidings-event-id'] === eventId).length;
    ctx.mail.slowDown(400);
    const first = startConsumerProcess(ctx, { env: { DATABASE_URL: proxy.via(ctx.databaseUrl) } });
    try {
      for (const e of events) await publisher.publish('PASSWORD_RESET_REQUESTED', e);
      await ctx.mail.waitFor((all) => all.length >= 2, 60_000);

      proxy.cut();
      const atCut = ctx.mail.messages.length;
      // A send in flight when the database went away is accepted and cannot be recorded.
      await ctx.mail.waitFor((all) => all.length > atCut, 30_000);

      const stopping = Date.now();
      first.child.kill('SIGTERM');
      const exit = await Promise.race([first.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), SHUTDOWN_BOUND_MS + 5_000))]);
      const tookMs = Date.now() - stopping;
      expect(exit).toBeDefined();
      expect(tookMs).toBeLessThan(SHUTDOWN_BOUND_MS);
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }

    proxy.restore();
    ctx.mail.slowDown(0);
    // What the dead process left claimed: sent but never recorded (the duplicate window), or
    // claimed and never sent. Both are the next owner's once the lease runs out; the lease
    // (60 s) is made to run out now rather than waited for.
    const window = await ctx.db('delivery_ledger').where({ status: 'sending' }).update({ claim_expires_at: ctx.db.raw("now() - interval '1 second'") });

    const second = startConsumerProcess(ctx);
    try {
      await waitFor('every email to be delivered and recorded', async () => {
        const rows: Array<{ status: string }> = await ctx.db('delivery_ledger').whereIn('event_id', events.map((e) => e.event_id));
        return rows.length === events.length && rows.every((r) => r.status === 'sent');
      }, 90_000, 250);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }

    const counts = events.map((e) => mailsOf(e.event_id));
    expect(counts.every((n) => n >= 1)).toBe(true);
    const duplicates = counts.reduce((sum, n) => sum + (n - 1), 0);
    expect(duplicates).toBeLessThanOrEqual(window);
    expect(counts.every((n) => n <= 2)).toBe(true);
  });
});
