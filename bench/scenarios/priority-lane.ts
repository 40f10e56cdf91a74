import os from 'node:os';
import { NotificationWorker } from '../harness/notification-worker';
import { AUTH_EVENT_TYPES, type EventType, type TypedEvent } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { laneAccepts } from '../../src/notifications/routing';
import { openIsolatedStack } from '../harness/isolated-stack';
import type { Scenario, ScenarioResult } from '../harness/scenario';
import { SmtpSink } from '../harness/smtp-sink';

/**
 * Auth events queued for the bulk lane before the clock starts. `TIDINGS_BENCH_PRIORITY_BACKLOG=0`
 * measures the priority path's own latency, with nothing else running.
 */
const BACKLOG = Number(process.env.TIDINGS_BENCH_PRIORITY_BACKLOG ?? 50_000);
const RATE_PER_SECOND = 1_000;
/** A rate well within what one priority-lane process emails per second on the 2-core reference machine. */
const SUSTAINABLE_RATE = 100;
/** Rates tried, in order, for the highest that keeps p99 within the budget; the search stops at the first that does not. */
const SEARCH_RATES = [200, 400, 700];
const BUDGET_MS = 500;
/** How long the bench waits for a rate's last emails after its last publish. */
const DRAIN_MS = 60_000;
/**
 * The bulk lane's niceness, as the README recommends deploying it (`nice -n 10 tidings run
 * notification --lane bulk`): on a machine short of cores the priority lane then gets the CPU
 * first and the backlog gets the rest. `TIDINGS_BENCH_BULK_NICE=0` measures without.
 */
const BULK_NICE = Number(process.env.TIDINGS_BENCH_BULK_NICE ?? 10);
/**
 * Partitions the priority lane works on at once (`--partitions-concurrency`); default 1, as
 * deployed by default. `TIDINGS_BENCH_PRIORITY_PARTITIONS=4` measures with four (one run each
 * on 2026-12-03: p99 at 100/s 962 ms with 4 against 610 ms with 1, at 200/s 579 against 992:
 * inside the noise of single runs, so not the default).
 */
const PRIORITY_PARTITIONS = Number(process.env.TIDINGS_BENCH_PRIORITY_PARTITIONS ?? 1);

/** Wall-clock milliseconds with sub-millisecond precision, comparable between the bench and the worker processes. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Payment confirmations behind a 50,000-event auth backlog: the bulk lane works the backlog
 * while payment confirmations are published at 100/s, then at rising rates until p99 leaves
 * the budget, then at DESIGN's 1,000/s; each one's latency is from its publish call to the
 * SMTP server accepting its email (the priority worker notes the moment its SMTP send
 * resolves, on the machine's wall clock). The SMTP server is Postfix's `smtp-sink`, so no
 * mail catcher in Node competes with the lanes for the two cores. Own topics, database and
 * SMTP server, removed afterwards.
 */
export const priorityLane: Scenario = {
  name: 'priority-lane',
  description:
    'p50/p99/max publish → SMTP accepted of payment confirmations at 100/s, 200/400/700/s (the highest within 500 ms p99) and 1,000/s behind a 50,000-event auth backlog (each lane in its own process, Postfix smtp-sink)',
  async run(ctx) {
    const own = await openIsolatedStack(await ctx.stack(), 'lanes');
    const sink = await SmtpSink.start();
    const platform = own.platform({ databaseUrl: await own.createDatabase(), smtpUrl: sink.url });
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
        await worker.start({ endpoints: platform.endpoints, topics: own.topics, clientId: `${own.id}-${lane}`, groupId: `${own.id}.notification.${lane}`, chunkSize: 500, email: true, lane, recordAcceptances: lane === 'priority', ...(lane === 'priority' && { partitionsConcurrency: PRIORITY_PARTITIONS }) });
      }
      const [bulk, priority] = lanes as [NotificationWorker, NotificationWorker];
      if (bulk.pid !== undefined && BULK_NICE !== 0) os.setPriority(bulk.pid, BULK_NICE);
      // The priority lane has passed over the whole backlog (skipped by header) before the clock starts.
      while ((await priority.stats()).skipped < BACKLOG) await new Promise((r) => setTimeout(r, 100));

      const seconds = ctx.quick ? 3 : 10;
      await priority.acceptances();
      ctx.progress(`priority lane pid ${priority.pid}, bulk lane pid ${bulk.pid} at nice ${BULK_NICE} (their --cpu-prof profiles carry these pids)`);
      const measurements: ScenarioResult['measurements'] = [];
      const held: number[] = [];
      const measure = async (rate: number): Promise<number> => {
        const sentAt = new Map<string, number>();
        const count = seconds * rate;
        ctx.progress(`publishing ${count} payment confirmations at ${rate}/s while the bulk lane works the backlog`);
        const begin = performance.now();
        for (let i = 0; i < count; i++) {
          // Paced against the wall clock: event i is due at begin + i / rate seconds.
          const due = begin + (i * 1000) / rate;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: `payer-${rate}-${i % 2_000}` }, rng);
          sentAt.set(event.event_id, wallClock());
          void publisher.publish('PAYMENT_SUCCEEDED', event);
        }
        const latencies: number[] = [];
        // Where the time went: publish → the worker's SMTP send call, and that call → accepted.
        const beforeSend: number[] = [];
        const inSmtp: number[] = [];
        const deadline = performance.now() + DRAIN_MS;
        while (latencies.length < count && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          for (const a of await priority.acceptances()) {
            const started = sentAt.get(a.eventId);
            if (started === undefined) continue;
            latencies.push(a.acceptedAt - started);
            beforeSend.push(a.sentAt - started);
            inSmtp.push(a.acceptedAt - a.sentAt);
          }
        }
        const middle = (values: number[]): number => Math.round(values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN);
        const sorted = latencies.sort((a, b) => a - b);
        const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
        const backlogLeft = BACKLOG - (await bulk.stats()).processed;
        const p99 = sorted.length < count ? Number.POSITIVE_INFINITY : pct(99);
        const detail = {
          confirmations: count,
          delivered: sorted.length,
          ratePerSecond: rate,
          backlog: BACKLOG,
          backlogLeftAtEnd: backlogLeft,
          bulkLaneNice: BULK_NICE,
          priorityPartitionsConcurrency: PRIORITY_PARTITIONS,
          confirmationsPerSecondDelivered: Math.round(sorted.length / ((sorted.at(-1) ?? 0) / 1000 + seconds)),
          p50MsPublishToSmtpSend: middle(beforeSend),
          p50MsInSmtpSend: middle(inSmtp),
        };
        ctx.progress(`  at ${rate}/s: p50 ${Math.round(pct(50))} ms, p99 ${Math.round(pct(99))} ms, max ${Math.round(sorted.at(-1) ?? Number.NaN)} ms, ${sorted.length} of ${count} emailed (p50 ${detail.p50MsPublishToSmtpSend} ms to the SMTP send, ${detail.p50MsInSmtpSend} ms in it); bulk backlog left ${backlogLeft}`);
        for (const [name, value] of [['p50', pct(50)], ['p99', pct(99)], ['max', sorted.at(-1) ?? Number.NaN]] as const) {
          measurements.push({ name: `${name}-ms-at-${rate}`, value, unit: 'ms', detail });
        }
        if (p99 < BUDGET_MS) held.push(rate);
        return p99;
      };
      // A rate this machine's priority lane sustains first, then the search, then DESIGN's 1,000/s.
      await measure(SUSTAINABLE_RATE);
      for (const rate of SEARCH_RATES) if ((await measure(rate)) >= BUDGET_MS) break;
      const p99AtTarget = await measure(RATE_PER_SECOND);
      // The harness checks minimums: budget / p99 ≥ 1 means p99 is within the 500 ms budget.
      measurements.push({ name: 'p99-budget-headroom', value: BUDGET_MS / p99AtTarget, unit: '×', detail: { budgetMs: BUDGET_MS } });
      measurements.push({ name: 'highest-rate-within-budget', value: Math.max(0, ...held), unit: 'events/s', detail: { tried: [SUSTAINABLE_RATE, ...SEARCH_RATES, RATE_PER_SECOND].join(', '), budgetMs: BUDGET_MS } });
      const rows = (rate: number): ScenarioResult['comparisons'] => ['p50', 'p99', 'max'].filter((n) => measurements.some((m) => m.name === `${n}-ms-at-${rate}`)).map((n) => ({ measurement: `${n}-ms-at-${rate}` }));
      return {
        measurements,
        comparisons: [
          ...[SUSTAINABLE_RATE, ...SEARCH_RATES, RATE_PER_SECOND].flatMap(rows),
          { measurement: 'highest-rate-within-budget', note: `highest of ${[SUSTAINABLE_RATE, ...SEARCH_RATES, RATE_PER_SECOND].join(', ')}/s with p99 < ${BUDGET_MS} ms` },
          {
            measurement: 'p99-budget-headroom',
            target: 1,
            note: 'p99 < 500 ms at 1,000/s',
            whyMissed:
              'CPU (docs/performance.md, "Payment confirmations behind a backlog"): the SMTP send is 2–6 ms, the path before it (produce, fetch, the batch transaction, render) the rest; ' +
              'a confirmation costs about 1.8 ms of CPU in the priority worker alone, plus the broker, PostgreSQL and the sink, so 1,000/s needs more than the two cores the priority lane shares with the bulk lane draining its backlog. ' +
              'The queue grows during the run and p99 is the time to work it off; highest-rate-within-budget is what this machine holds.',
          },
        ],
      };
    } finally {
      await Promise.all(lanes.map(async (l) => l.stop().catch(() => undefined).finally(() => l.close())));
      await publisher.disconnect();
      await sink.close();
      await own.dispose();
    }
  },
};
