import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { MailCatcher } from '../../src/dev/mail-catcher';
import { AUTH_EVENT_TYPES, type EventType, type TypedEvent } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { laneAccepts } from '../../src/notifications/routing';
import { openIsolatedStack } from '../harness/isolated-stack';
import type { Scenario } from '../harness/scenario';

const BACKLOG = 50_000;
const RATE_PER_SECOND = 1_000;
const BUDGET_MS = 500;

/**
 * Payment confirmations behind a 50,000-event auth backlog: the bulk lane works the backlog
 * while payment confirmations are published at 1,000 events/s; each one's latency is from
 * its publish call to the SMTP server accepting its email. Own topics, database and SMTP
 * server, removed afterwards.
 */
export const priorityLane: Scenario = {
  name: 'priority-lane',
  description: 'p50/p99 publish → SMTP accepted of payment confirmations at 1,000/s behind a 50,000-event auth backlog',
  async run(ctx) {
    const own = await openIsolatedStack(await ctx.stack(), 'lanes');
    const mail = await MailCatcher.start({ retainBodies: false });
    const platform = own.platform({ databaseUrl: await own.createDatabase(), smtpUrl: mail.url });
    const lanes: NotificationConsumer[] = [];
    const publisher = platform.createPublisher({ maxBatchSize: 1000 });
    try {
      await publisher.connect();
      const bulkTypes = AUTH_EVENT_TYPES.filter((t) => laneAccepts('bulk', t));
      const rng = seededRng(17);
      ctx.progress(`publishing a backlog of ${BACKLOG} auth events`);
      const backlog: TypedEvent[] = Array.from({ length: BACKLOG }, (_, i) => {
        const type = bulkTypes[i % bulkTypes.length] as EventType;
        return { type, event: sampleEvent(type, { user_id: `bulk-${i % 5_000}` }, rng) } as TypedEvent;
      });
      for (let i = 0; i < backlog.length; i += 5_000) await Promise.all(backlog.slice(i, i + 5_000).map((e) => publisher.publish(e.type, e.event)));

      lanes.push(await startNotificationConsumer(platform, { lane: 'bulk' }));
      lanes.push(await startNotificationConsumer(platform, { lane: 'priority' }));
      const [bulk, priority] = lanes as [NotificationConsumer, NotificationConsumer];
      while (priority.runtime.stats.skipped < BACKLOG) await new Promise((r) => setTimeout(r, 100));

      const seconds = ctx.quick ? 3 : 10;
      const count = seconds * RATE_PER_SECOND;
      const sentAt = new Map<string, number>();
      const latencies: number[] = [];
      mail.on('mail', (m: { headers: Record<string, string> }) => {
        const started = sentAt.get(m.headers['x-tidings-event-id'] ?? '');
        if (started !== undefined) latencies.push(performance.now() - started);
      });
      ctx.progress(`publishing ${count} payment confirmations at ${RATE_PER_SECOND}/s while the bulk lane works the backlog`);
      const begin = performance.now();
      for (let i = 0; i < count; i++) {
        // Paced against the wall clock: event i is due at begin + i ms.
        const due = begin + (i * 1000) / RATE_PER_SECOND;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: `payer-${i % 2_000}` }, rng);
        sentAt.set(event.event_id, performance.now());
        void publisher.publish('PAYMENT_SUCCEEDED', event);
      }
      const deadline = performance.now() + 60_000;
      while (latencies.length < count && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const backlogLeft = BACKLOG - bulk.runtime.stats.processed;
      latencies.sort((a, b) => a - b);
      const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
      const detail = { confirmations: count, delivered: latencies.length, ratePerSecond: RATE_PER_SECOND, backlog: BACKLOG, backlogLeftAtEnd: backlogLeft };
      return {
        measurements: [
          { name: 'p50-ms', value: pct(50), unit: 'ms', detail },
          { name: 'p99-ms', value: pct(99), unit: 'ms', detail },
          { name: 'max-ms', value: latencies[latencies.length - 1] ?? Number.NaN, unit: 'ms', detail },
          // The harness checks minimums: budget / p99 ≥ 1 means p99 is within the 500 ms budget.
          { name: 'p99-budget-headroom', value: BUDGET_MS / pct(99), unit: '×', detail: { budgetMs: BUDGET_MS } },
        ],
        comparisons: [{ measurement: 'p50-ms' }, { measurement: 'p99-ms' }, { measurement: 'p99-budget-headroom', target: 1, note: 'p99 < 500 ms' }],
      };
    } finally {
      await Promise.all(lanes.map((l) => l.stop()));
      await publisher.disconnect();
      await mail.close();
      await own.dispose();
    }
  },
};
