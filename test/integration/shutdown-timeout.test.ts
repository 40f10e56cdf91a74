import type { Knex } from 'knex';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { startConsumerProcess } from '../helpers/consumer-process';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

/**
 * A worker whose stop cannot finish (its chunk waits on a lock PostgreSQL will not grant)
 * exits once TIDINGS_SHUTDOWN_TIMEOUT has passed, saying what it was waiting for, instead of
 * hanging until someone kills it; the next worker applies the stuck event once.
 */
describe('shutdown timeout', () => {
  let ctx: TestContext;
  let publisher: Publisher;

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  const receipts = async (): Promise<string[]> => (await ctx.db('receipts').select('event_id')).map((r: { event_id: string }) => r.event_id);

  it('a stop stuck on the database ends at the timeout with status 1 naming the step; the next worker applies the event once', async () => {
    const first = sampleEvent('PAYMENT_SUCCEEDED');
    const stuck = sampleEvent('PAYMENT_SUCCEEDED');
    const worker = startConsumerProcess(ctx, { env: { TIDINGS_SHUTDOWN_TIMEOUT: '2s' } });
    let lock: Knex.Transaction | undefined;
    try {
      await publisher.publish('PAYMENT_SUCCEEDED', first);
      await waitFor('the first receipt', async () => (await receipts()).length === 1, 60_000, 100);

      // Holds the receipts table: the worker's next chunk waits for it inside its transaction.
      lock = await ctx.db.transaction();
      await lock.raw('LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE');
      await publisher.publish('PAYMENT_SUCCEEDED', stuck);
      await waitFor(
        'the worker to wait for the lock',
        async () => {
          const { rows } = await ctx.db.raw<{ rows: Array<{ n: string }> }>(
            "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'receipts'::regclass AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
          );
          return Number(rows[0]?.n) > 0;
        },
        60_000,
        100,
      );

      const stopping = Date.now();
      worker.child.kill('SIGTERM');
      const exit = await Promise.race([worker.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20_000))]);
      const tookMs = Date.now() - stopping;
      expect(exit).toBeDefined();
      expect(exit?.code).toBe(1);
      expect(tookMs).toBeGreaterThanOrEqual(2_000);
      expect(tookMs).toBeLessThan(15_000);
      expect(exit?.output).toMatch(/stopping took longer than the shutdown timeout \(2000 ms\); exiting without waiting for the consumer group/);
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exited;
      await lock?.rollback();
    }
    expect(await receipts()).toEqual([first.event_id]);

    // The event the stuck chunk held is applied by the next worker, once; that one stops cleanly.
    const next = startConsumerProcess(ctx);
    try {
      await waitFor('the stuck event applied', async () => (await receipts()).length === 2, 60_000, 100);
      expect((await receipts()).sort()).toEqual([first.event_id, stuck.event_id].sort());
      next.child.kill('SIGTERM');
      expect((await next.exited).code).toBe(0);
    } finally {
      next.child.kill('SIGKILL');
      await next.exited;
    }
  }, 180_000);
});
