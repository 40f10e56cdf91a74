import { NotificationWorker } from '../harness/notification-worker';
import { MailCatcher } from '../../src/dev/mail-catcher';
import { AUTH_EVENT_TYPES, type EventType, type TypedEvent } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { laneAccepts } from '../../src/notifications/routing';
import { openIsolatedStack } from '../harness/isolated-stack';
import type { Scenario, ScenarioResult } from '../harness/scenario';

const BACKLOG = 50_000;
const RATE_PER_SECOND = 1_000;
/** Within what one priority-lane process emails per second on the 2-core reference machine (about 300–400). */
const SUSTAINABLE_RATE = 100;
const BUDGET_MS = 500;

/**
 * Payment confirmations behind a 50,000-event auth backlog: the bulk lane works the backlog
 * while payment confirmations are published at 1,000 events/s; each one's latency is from
 * its publish call to the SMTP server accepting its email. Own topics, database and SMTP
 * server, removed afterwards.
 */
export const priorityLane: Scenario = {
  name: 'priority-lane',
  description: 'p50/p99 publish → SMTP accepted of payment confirmations at 100/s and 1,000/s behind a 50,000-event auth backlog (each lane in its own process)',
  async run(ctx) {
    const own = await openIsolatedStack(await ctx.stack(), 'lanes');
    const mail = await MailCatcher.start({ retainBodies: false });
    const platform = own.platform({ databaseUrl: await own.createDatabase(), smtpUrl: mail.url });
    // Each lane in a process of its own, as deployed (`tidings run notification --lane …`).
    const lanes: NotificationWorker[] = [];
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

      for (const lane of ['bulk', 'priority'] as const) {
        const worker = await NotificationWorker.fork();
        lanes.push(worker);
        await worker.start({ endpoints: platform.endpoints, topics: own.topics, clientId: `${own.id}-${lane}`, groupId: `${own.id}.notification.${lane}`, chunkSize: 500, email: true, lane });
      }
      const [bulk, priority] = lanes as [NotificationWorker, NotificationWorker];
      // The priority lane has passed over the whole backlog (skipped by header) before the clock starts.
      while ((await priority.stats()).skipped < BACKLOG) await new Promise((r) => setTimeout(r, 100));

      const seconds = ctx.quick ? 3 : 10;
      const sentAt = new Map<string, number>();
      let latencies: number[] = [];
      mail.on('mail', (m: { headers: Record<string, string> }) => {
        const started = sentAt.get(m.headers['x-tidings-event-id'] ?? '');
        if (started !== undefined) latencies.push(performance.now() - started);
      });
      const measurements: ScenarioResult['measurements'] = [];
      // A rate this machine's priority lane can sustain first, then DESIGN's 1,000/s.
      for (const rate of [SUSTAINABLE_RATE, RATE_PER_SECOND]) {
        latencies = [];
        sentAt.clear();
        const count = seconds * rate;
        ctx.progress(`publishing ${count} payment confirmations at ${rate}/s while the bulk lane works the backlog`);
        const begin = performance.now();
        for (let i = 0; i < count; i++) {
          // Paced against the wall clock: event i is due at begin + i / rate seconds.
          const due = begin + (i * 1000) / rate;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: `payer-${rate}-${i % 2_000}` }, rng);
          sentAt.set(event.event_id, performance.now());
          void publisher.publish('PAYMENT_SUCCEEDED', event);
        }
        const deadline = performance.now() + 60_000;
        while (latencies.length < count && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        const sorted = [...latencies].sort((a, b) => a - b);
        const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
        const backlogLeft = BACKLOG - (await bulk.stats()).processed;
        const detail = { confirmations: count, delivered: sorted.length, ratePerSecond: rate, backlog: BACKLOG, backlogLeftAtEnd: backlogLeft, confirmationsPerSecondDelivered: Math.round(sorted.length / ((sorted.at(-1) ?? 0) / 1000 + seconds)) };
        ctx.progress(`  at ${rate}/s: p50 ${Math.round(pct(50))} ms, p99 ${Math.round(pct(99))} ms, ${sorted.length} of ${count} emailed; bulk backlog left ${backlogLeft}`);
        measurements.push({ name: `p50-ms-at-${rate}`, value: pct(50), unit: 'ms', detail }, { name: `p99-ms-at-${rate}`, value: pct(99), unit: 'ms', detail });
        // The harness checks minimums: budget / p99 ≥ 1 means p99 is within the 500 ms budget.
        if (rate === RATE_PER_SECOND) measurements.push({ name: 'p99-budget-headroom', value: BUDGET_MS / pct(99), unit: '×', detail: { budgetMs: BUDGET_MS } });
      }
      return {
        measurements,
        comparisons: [
          { measurement: `p50-ms-at-${SUSTAINABLE_RATE}` },
          { measurement: `p99-ms-at-${SUSTAINABLE_RATE}` },
          { measurement: `p50-ms-at-${RATE_PER_SECOND}` },
          { measurement: `p99-ms-at-${RATE_PER_SECOND}` },
          { measurement: 'p99-budget-headroom', target: 1, note: 'p99 < 500 ms at 1,000/s' },
        ],
      };
    } finally {
      await Promise.all(lanes.map(async (l) => l.stop().catch(() => undefined).finally(() => l.close())));
      await publisher.disconnect();
      await mail.close();
      await own.dispose();
    }
  },
};
