import type { Kafka } from 'kafkajs';
import type { Gauge } from 'prom-client';
import { z } from 'zod';
import { durationMs, parseOptions } from '../config/options';
import { describe } from '../errors';
import { UnknownGroupError } from '../ops/inspect/admin-errors';
import { lagReport, type GroupLag } from '../ops/inspect/consumer-lag';
import type { Logger } from './logger';
import { consumerGroupLag, consumerGroupLagSum, dlqMessages, retryTierDepth } from './metrics';

export interface LagMetricsOptions {
  kafka: Kafka;
  /** The consumer groups whose lag, retry tiers and DLQs this process exports (its own). */
  groupIds: readonly string[];
  /** How often the broker is asked. Default 15 s (Prometheus' usual scrape interval). */
  intervalMs?: number;
  logger: Logger;
}

const optionsSchema = z.object({
  groupIds: z.array(z.string().min(1)).min(1),
  intervalMs: durationMs.default(15_000),
});

type LabelSet = Record<string, string>;

/** The gauges this collector sets, so a series it no longer finds (a deleted tier) is removed rather than left stale. */
const GAUGES: ReadonlyArray<Gauge<string>> = [consumerGroupLag, consumerGroupLagSum, retryTierDepth, dlqMessages];

/**
 * Exports the lag of a worker's groups from the broker every `intervalMs`, as `tidings lag`
 * reports it (one `lagReport` per group): `kafka_consumergroup_lag` and `_sum` per partition and
 * topic of `<group>` (source topics) and `<group>.retry` (its tiers), `tidings_retry_tier_depth`
 * and `tidings_dlq_messages`. A collection that fails (broker unreachable, group not known yet)
 * leaves the last values and is tried again at the next interval; one runs at a time.
 */
export class LagMetrics {
  private readonly groupIds: readonly string[];
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private collecting: Promise<void> | undefined;
  /** Per gauge, the label sets set at the last collection (keyed by their JSON). */
  private readonly exported = new Map<Gauge<string>, Map<string, LabelSet>>(GAUGES.map((g) => [g, new Map()]));

  constructor(private readonly options: LagMetricsOptions) {
    const settings = parseOptions('lag metrics', optionsSchema, { groupIds: options.groupIds, intervalMs: options.intervalMs });
    this.groupIds = settings.groupIds;
    this.intervalMs = settings.intervalMs;
  }

  /** Collects now, then every interval. Idempotent. */
  start(): void {
    if (this.timer) return;
    void this.collect();
    this.timer = setInterval(() => void this.collect(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops collecting (waits for a collection in progress); the gauges keep their last values. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.collecting;
  }

  /** One collection (joined if one is under way). Never throws. */
  collect(): Promise<void> {
    this.collecting ??= this.collectOnce().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async collectOnce(): Promise<void> {
    const admin = this.options.kafka.admin();
    try {
      await admin.connect();
      const groups: GroupLag[] = [];
      for (const groupId of this.groupIds) groups.push(...(await lagReport(admin, { groupId })).groups);
      this.export(groups);
    } catch (error) {
      // Before its first join (the DLQ index with no DLQ topic yet: for good) a group is unknown to the broker: nothing to report.
      const level = error instanceof UnknownGroupError ? 'debug' : 'warn';
      this.options.logger[level]({ error: describe(error), groups: this.groupIds }, 'lag metrics not refreshed; trying again at the next interval');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private export(groups: readonly GroupLag[]): void {
    const next = new Map<Gauge<string>, Map<string, LabelSet>>(GAUGES.map((g) => [g, new Map()]));
    const set = (gauge: Gauge<string>, labels: LabelSet, value: number): void => {
      gauge.set(labels, value);
      next.get(gauge)?.set(JSON.stringify(labels), labels);
    };
    for (const group of groups) {
      for (const topic of group.topics) {
        for (const p of topic.partitions) set(consumerGroupLag, { consumergroup: topic.heldBy, topic: topic.topic, partition: String(p.partition) }, p.lag);
        set(consumerGroupLagSum, { consumergroup: topic.heldBy, topic: topic.topic }, topic.lag);
        if (topic.role === 'retry') set(retryTierDepth, { consumergroup: group.groupId, topic: topic.topic, tier: String(topic.tier) }, topic.lag);
      }
      for (const dlq of group.deadLetters) set(dlqMessages, { topic: dlq.topic }, dlq.depth);
    }
    for (const gauge of GAUGES) {
      const now = next.get(gauge) as Map<string, LabelSet>;
      for (const [key, labels] of this.exported.get(gauge) ?? []) if (!now.has(key)) gauge.remove(labels);
      this.exported.set(gauge, now);
    }
  }
}
