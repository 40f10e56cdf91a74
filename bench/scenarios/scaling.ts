import { openIsolatedStack } from '../harness/isolated-stack';
import { drain, eventsOn, publishBacklog, verifyEffects } from '../harness/pipeline-drain';
import { fromSamples, perSecond, type Comparison, type Measurement, type Scenario } from '../harness/scenario';
import { workerHeapOption } from '../harness/notification-worker';

const DEFAULT_SIZES = [10_000, 100_000, 1_000_000];
const QUICK_SIZES = [10_000, 20_000];
/** Above this many events a size gets one round: a round of a million takes about 7 minutes here. */
const MULTI_ROUND_MAX = 300_000;
/** The slowest pace a round may run at before it is given up (events/s), and the least time it gets. */
const SLOWEST_RATE = 1_000;
const MIN_ROUND_MS = 4 * 60_000;
/** DESIGN.md: worker RSS < 250 MB under backlog. */
const RSS_BUDGET_MB = 250;

/**
 * How cost grows with the backlog: at each size (10,000, 100,000 and 1,000,000 events by
 * default, `--scaling-sizes` to change) a round publishes that many events of the bench mix
 * to topics of its own (`Publisher.publish`, timed) and then has a fresh notification worker
 * drain them into a fresh database (timed from its first committed chunk to its last, so the
 * fixed start-up does not flatter the large sizes), checked exactly-once in PostgreSQL like
 * the notification-pipeline scenario. Events/s should stay flat and the worker's peak RSS
 * bounded as the size grows a hundredfold.
 */
export const scaling: Scenario = {
  name: 'scaling',
  description: 'publish and notification pipeline at 10k, 100k and 1M events: events/s and worker peak RSS per size',
  deadlineMs: 60 * 60_000,
  async run(ctx) {
    const sizes = [...new Set(ctx.scalingSizes ?? (ctx.quick ? QUICK_SIZES : DEFAULT_SIZES))].sort((a, b) => a - b);
    const stack = await ctx.stack();
    const measurements: Measurement[] = [];
    for (const size of sizes) {
      const rounds = size > MULTI_ROUND_MAX ? 1 : ctx.rounds;
      const publish: number[] = [];
      const pipeline: number[] = [];
      const wholeRun: number[] = [];
      const rss: number[] = [];
      let peak: { rssStartMb: number; heapTotalAtPeakMb: number; externalAtPeakMb: number; rssPeakMb: number } | undefined;
      for (let round = 1; round <= rounds; round++) {
        const own = await openIsolatedStack(stack, 'scale');
        try {
          const platform = own.platform();
          ctx.progress(`  ${label(size)} round ${round}/${rounds}: publishing`);
          const backlog = await publishBacklog(platform, size);
          const total = await eventsOn(platform, own.topics);
          if (total !== size) throw new Error(`published ${size} events but the topics hold ${total}`);
          const deadline = Date.now() + Math.max(MIN_ROUND_MS, (size / SLOWEST_RATE) * 1000);
          const run = await drain(own, `${label(size)}r${round}`, { stopAt: size, deadline, progress: ctx.progress });
          if (run.committed < size) throw new Error(`${label(size)}: the pipeline committed ${run.committed} of ${size} events in time`);
          await verifyEffects(run, backlog, true);
          publish.push(perSecond(size, backlog.publishNs));
          pipeline.push(run.steadyRate);
          wholeRun.push(run.rate);
          rss.push(run.rssPeakMb);
          if (!peak || run.rssPeakMb > peak.rssPeakMb) peak = run;
          ctx.progress(
            `  ${label(size)} round ${round}: publish ${Math.round(publish.at(-1) ?? 0)} events/s, pipeline ${Math.round(run.steadyRate)} events/s ` +
              `(${Math.round(run.rate)} with start-up), worker RSS peak ${run.rssPeakMb} MB`,
          );
        } finally {
          await own.dispose();
        }
      }
      const detail = { events: size, rounds, ...(rounds < ctx.rounds && { why: `one round above ${MULTI_ROUND_MAX} events (time)` }) };
      measurements.push(
        fromSamples(`publish@${label(size)}`, 'events/s', publish, detail),
        fromSamples(`pipeline@${label(size)}`, 'events/s', pipeline, { ...detail, withStartUp: Math.round(wholeRun[0] ?? 0), timed: 'first committed chunk to last' }),
        fromSamples(`rss-peak@${label(size)}`, 'MB', rss, {
          ...detail,
          process: 'notification worker (child process)',
          nodeOptions: workerHeapOption() ?? 'none',
          // Of the round with the highest peak: what the process started at, and V8's heap and the memory outside it at the peak.
          rssAtStartMb: peak?.rssStartMb ?? 0,
          heapTotalAtPeakMb: peak?.heapTotalAtPeakMb ?? 0,
          externalAtPeakMb: peak?.externalAtPeakMb ?? 0,
          budgetMb: RSS_BUDGET_MB,
        }),
      );
    }
    return { measurements, comparisons: comparisons(sizes) };
  },
};

/** Each size against the smallest: a ratio near 1 is flat (events/s) or bounded (RSS). */
function comparisons(sizes: number[]): Comparison[] {
  const [smallest, ...larger] = sizes.map(label);
  if (smallest === undefined) return [];
  const rows: Comparison[] = [];
  for (const size of larger) {
    rows.push(
      { measurement: `publish@${size}`, baseline: `publish@${smallest}`, note: `publish events/s at ${size} ÷ at ${smallest}: flat is 1` },
      { measurement: `pipeline@${size}`, baseline: `pipeline@${smallest}`, note: `pipeline events/s at ${size} ÷ at ${smallest}: flat is 1` },
      { measurement: `rss-peak@${size}`, baseline: `rss-peak@${smallest}`, note: `worker peak RSS at ${size} ÷ at ${smallest}: bounded is 1; DESIGN: < ${RSS_BUDGET_MB} MB` },
    );
  }
  return rows;
}

/** 10000 → `10k`, 1000000 → `1M`. */
function label(size: number): string {
  if (size >= 1_000_000 && size % 1_000_000 === 0) return `${size / 1_000_000}M`;
  if (size >= 1_000 && size % 1_000 === 0) return `${size / 1_000}k`;
  return String(size);
}
