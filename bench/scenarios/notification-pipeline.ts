import { createDb, type Db } from '../../src/db/database';
import { benchEvents } from '../harness/fixtures';
import { openIsolatedStack, type IsolatedStack } from '../harness/isolated-stack';
import { CHUNK, drain, eventsOn, expectations, publishAll, verifyEffects, type Drained } from '../harness/pipeline-drain';
import { fromSamples, perSecond, type Comparison, type Measurement, type Scenario } from '../harness/scenario';
import { workerHeapOption } from '../harness/notification-worker';

/** Events the untimed warm-up run works through (retry topics, broker and database caches). */
const WARM_UP_EVENTS = 2_000;
/** Within the scenario's deadline, leaving time to clean up. */
const BUDGET_MS = 8 * 60_000;
/** The second pipeline side's `partitionsConcurrency` (the first runs the default, 1). */
const CONCURRENT_PARTITIONS = 2;
/** DESIGN.md: worker RSS < 250 MB under backlog. */
const RSS_BUDGET_MB = 250;

/** Every table the pipeline writes for an event, in the order a bare insert needs them. */
const EFFECT_TABLES = ['inbox', 'receipts', 'legal_records', 'delivery_ledger', 'in_app_notifications', 'delivery_attempts'] as const;
type EffectTable = (typeof EFFECT_TABLES)[number];
type Row = Record<string, unknown>;
type EffectRows = Record<EffectTable, Row[]>;

/**
 * The notification consumer group working off a backlog, against a bare multi-row INSERT of
 * the rows it wrote. The backlog is the bench's realistic mix (`benchEvents`, ~30 % payment
 * receipts) on the scenario's own topics; each round starts `startNotificationConsumer` in
 * a fresh worker process on a fresh database and times from that call until every event's
 * offset is committed: fetch, Avro decode, validation, inbox + receipt + legal record +
 * ledger rows in one transaction, delivery, offset commit. The worker's RSS is sampled.
 *
 * Delivery does real work cheaply: only the in-app channel is enabled (its notifications
 * written in the effects transaction, many per statement, their ledger rows `sent`); email,
 * SMS and push are left out, so their ledger rows are planned as `suppressed:
 * channel_disabled` and nothing waits on SMTP. The email path has a scenario of its own (email-path).
 *
 * The baseline reads back every row the pipeline wrote (inbox, receipts, legal records,
 * ledger, in-app notifications, delivery attempts) and inserts them into a fresh database
 * with the same schema, one transaction per 500 events, one multi-row INSERT per table: what
 * the same effects cost PostgreSQL with nothing else in the way.
 */
export const notificationPipeline: Scenario = {
  name: 'notification-pipeline',
  deadlineMs: BUDGET_MS + 60_000,
  description:
    'notification consumer (decode, validate, inbox + receipt + legal record + ledger, in-app delivery, email/SMS/push disabled) ' +
    'draining a backlog vs a bare multi-row INSERT of the same rows',
  async run(ctx) {
    const deadline = Date.now() + BUDGET_MS;
    const events = benchEvents(ctx.events);
    const own = await openIsolatedStack(await ctx.stack(), 'pipe');
    try {
      const platform = own.platform();
      ctx.progress(`publishing ${events.length} events to ${own.topics.auth} and ${own.topics.payment}`);
      await publishAll(platform, events);
      const total = await eventsOn(platform, own.topics);
      if (total !== events.length) throw new Error(`published ${events.length} events but the topics hold ${total}`);
      const expected = expectations(events);

      ctx.progress(`warm-up: ${WARM_UP_EVENTS} events through the pipeline and a bare insert`);
      const warm = await drain(own, 'warm-up', { stopAt: WARM_UP_EVENTS, deadline });
      await bareInsert(own, warm);

      const pipelines: Drained[] = [];
      const concurrent: Drained[] = [];
      const bares: Bare[] = [];
      let rounds = 0;
      let lastRoundMs = 0;
      // The highest RSS of the timed runs' workers: each one works off the whole backlog.
      let rss: Drained | undefined;
      for (let round = 1; round <= ctx.rounds; round++) {
        const started = Date.now();
        // A later round only starts if it can finish as fast as the last one did, with room to spare.
        if (Date.now() + 1.5 * lastRoundMs > deadline) {
          ctx.progress(`  round ${round} skipped: not enough time left in the scenario's budget`);
          break;
        }
        const pipeline = await drain(own, `round${round}`, { stopAt: total, deadline, progress: ctx.progress });
        if (pipeline.committed < total) {
          throw new Error(`the pipeline committed ${pipeline.committed} of ${total} events within the ${BUDGET_MS / 1000} s budget`);
        }
        const checked = await verifyEffects(pipeline, expected, true);
        const bare = await bareInsert(own, pipeline);
        // The same backlog with two partitions worked on at once, checked the same way.
        const side = await drain(own, `round${round}p${CONCURRENT_PARTITIONS}`, { stopAt: total, deadline, partitionsConcurrency: CONCURRENT_PARTITIONS, progress: ctx.progress });
        if (side.committed < total) throw new Error(`the pipeline with ${CONCURRENT_PARTITIONS} partitions at once committed ${side.committed} of ${total} events within the ${BUDGET_MS / 1000} s budget`);
        await verifyEffects(side, expected, true);
        rounds++;
        ctx.progress(
          `  round ${round}: pipeline ${Math.round(pipeline.rate)} events/s (${pipeline.seconds.toFixed(1)} s, RSS peak ${Math.round(pipeline.rssPeakMb)} MB), ` +
            `with ${CONCURRENT_PARTITIONS} partitions at once ${Math.round(side.rate)} events/s, ` +
            `bare insert ${Math.round(bare.rate)} events/s (${bare.rows} rows); receipts ${checked.receipts}, ledger rows ${checked.ledger}`,
        );
        concurrent.push(side);
        lastRoundMs = Date.now() - started;
        pipelines.push(pipeline);
        bares.push(bare);
        for (const run of [pipeline, side]) if (!rss || run.rssPeakMb > rss.rssPeakMb) rss = run;
      }
      const last = pipelines.at(-1);
      if (!last || !rss) throw new Error('no round ran');

      const measurements: Measurement[] = [];
      const detail = { events: total, chunk: CHUNK, payments: expected.payments, channels: 'in_app (email, sms, push disabled)' };
      measurements.push(fromSamples('pipeline', 'events/s', pipelines.map((p) => p.rate), { ...detail, ...last.checked }));
      measurements.push(fromSamples(`pipeline-${CONCURRENT_PARTITIONS}-partitions`, 'events/s', concurrent.map((p) => p.rate), { ...detail, partitionsConcurrency: CONCURRENT_PARTITIONS }));
      measurements.push(fromSamples('bare-insert', 'events/s', bares.map((b) => b.rate), { events: total, batch: CHUNK, rows: bares.at(-1)?.rows ?? 0, tables: EFFECT_TABLES.join(' ') }));
      measurements.push({
        name: 'rss-peak',
        value: rss.rssPeakMb,
        unit: 'MB',
        detail: {
          process: 'notification worker (child process, tsx)',
          nodeOptions: workerHeapOption() ?? 'none',
          rssAtStartMb: rss.rssStartMb,
          heapTotalAtPeakMb: rss.heapTotalAtPeakMb,
          externalAtPeakMb: rss.externalAtPeakMb,
          budgetMb: RSS_BUDGET_MB,
          runs: rounds,
        },
      });

      return {
        measurements,
        comparisons: [
          {
            measurement: 'pipeline',
            baseline: 'bare-insert',
            target: 0.8,
            note: 'pipeline ÷ bare multi-row INSERT of the same rows',
            whyMissed:
              'the worker waits: a CPU profile of the worker draining 30,000 events (2026-12-04) is 31 % idle, waiting for PostgreSQL and Kafka, because by default it works one chunk at a time ' +
              '(the rest: notification planning and rendering 12 %, GC 9 %, pg/knex query building 7 %, decoding 4 %). pipeline-2-partitions (--partitions-concurrency 2) overlaps the two and is the row to compare; ' +
              'the ratio moves with the machine: 0.86 in the full run of 2026-12-03, 0.60–0.69 on 2026-12-04 for the same code (docs/performance.md, "The pipeline: statements per chunk").',
          },
          {
            measurement: 'pipeline',
            target: 10_000,
            note: 'absolute, on this 2-core machine',
            whyMissed:
              'the bare multi-row INSERT of the same rows (the bare-insert baseline, no Kafka at all) runs below 10,000/s on this machine: PostgreSQL writing the rows, ' +
              'on the cores it shares with the broker and the worker, is the ceiling, not the worker (docs/performance.md, "The pipeline: statements per chunk"; docs/cluster.md on PostgreSQL as the next limit).',
          },
          {
            measurement: `pipeline-${CONCURRENT_PARTITIONS}-partitions`,
            baseline: 'bare-insert',
            note: `partitionsConcurrency ${CONCURRENT_PARTITIONS} (tidings run notification --partitions-concurrency ${CONCURRENT_PARTITIONS}); the default is 1`,
          },
          // Info: the harness's targets are minimums.
          { measurement: 'rss-peak', note: `worker process, sampled every 100 ms; DESIGN: worker RSS < ${RSS_BUDGET_MB} MB under backlog` },
        ],
      };
    } finally {
      await own.dispose();
    }
  },
};

/** Every row the pipeline wrote for `eventIds`, per table, ids left out (the copy gets its own). */
async function loadEffects(db: Db, eventIds: string[]): Promise<EffectRows> {
  const rows = {} as EffectRows;
  for (const table of EFFECT_TABLES.filter((t) => t !== 'delivery_attempts')) {
    rows[table] = ((await db(table).whereIn('event_id', eventIds).orderBy('event_id')) as Row[]).map(({ id: _id, ...row }) => row);
  }
  // An attempt points at its ledger row by id; keep the ledger row's key to point at its copy.
  rows.delivery_attempts = (
    (await db('delivery_attempts as a')
      .join('delivery_ledger as l', 'l.id', 'a.ledger_id')
      .whereIn('l.event_id', eventIds)
      .select('a.*', 'l.event_id as ledger_event_id', 'l.channel as ledger_channel', 'l.recipient as ledger_recipient')) as Row[]
  ).map(({ id: _id, ...row }) => row);
  return rows;
}

interface Bare {
  rate: number;
  seconds: number;
  rows: number;
}

/**
 * Copies what `run` wrote into a fresh database: per 500 events one transaction, one
 * multi-row INSERT per table. Only the inserts are timed; reading each batch back is not.
 */
async function bareInsert(own: IsolatedStack, run: Drained): Promise<Bare> {
  const source = run.platform.db;
  const eventIds = (await source('inbox').where({ consumer_group: run.groupId }).orderBy(['topic', 'partition', 'offset']).pluck('event_id')) as string[];
  const db = createDb(await own.createDatabase(), { schema: run.platform.endpoints.databaseSchema });
  let elapsed = 0n;
  let rows = 0;
  try {
    for (let i = 0; i < eventIds.length; i += CHUNK) {
      const batch = await loadEffects(source, eventIds.slice(i, i + CHUNK));
      rows += EFFECT_TABLES.reduce((n, t) => n + batch[t].length, 0);
      const start = process.hrtime.bigint();
      await db.transaction(async (trx) => {
        for (const table of ['inbox', 'receipts', 'legal_records'] as const) if (batch[table].length > 0) await trx(table).insert(batch[table]);
        const ledger = batch.delivery_ledger.length === 0 ? [] : ((await trx('delivery_ledger').insert(batch.delivery_ledger).returning(['id', 'event_id', 'channel', 'recipient'])) as Row[]);
        const ids = new Map(ledger.map((l) => [`${l.event_id} ${l.channel} ${l.recipient}`, l.id]));
        if (batch.in_app_notifications.length > 0) await trx('in_app_notifications').insert(batch.in_app_notifications);
        if (batch.delivery_attempts.length > 0) {
          await trx('delivery_attempts').insert(
            batch.delivery_attempts.map(({ ledger_event_id, ledger_channel, ledger_recipient, ...a }) => ({
              ...a,
              ledger_id: ids.get(`${ledger_event_id} ${ledger_channel} ${ledger_recipient}`),
            })),
          );
        }
      });
      elapsed += process.hrtime.bigint() - start;
    }
    return { rate: perSecond(eventIds.length, elapsed), seconds: Number(elapsed) / 1e9, rows };
  } finally {
    await db.destroy();
  }
}
