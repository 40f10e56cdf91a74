import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric Tidings exports, defined once, in one registry. Defining them has no
 * side effect beyond this module; a process that serves `/metrics` (a worker's metrics server,
 * the API) turns on the default process and Node.js metrics with `enableDefaultMetrics()`.
 *
 * `consumergroup` is the Kafka group id, as kafka_exporter names it, so dashboards join the two.
 */
export const metricsRegistry = new Registry();
const registers = [metricsRegistry];

/** The media type of `renderMetrics`' text: Prometheus' text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = metricsRegistry.contentType;

export const eventsConsumed = new Counter({
  name: 'tidings_events_consumed_total',
  help: 'Records read by a consumer group: topic is the topic read (source, retry tier or DLQ); event_type from the record\'s type header, "unknown" when absent.',
  labelNames: ['consumergroup', 'topic', 'event_type'] as const,
  registers,
});

export const eventsProcessed = new Counter({
  name: 'tidings_events_processed_total',
  help: 'Records a consumer group finished without a failure. outcome: success (applied), duplicate (already in the inbox), skipped (another lane\'s), held (waits behind an earlier event of its key).',
  labelNames: ['consumergroup', 'topic', 'event_type', 'outcome'] as const,
  registers,
});

export const eventsFailed = new Counter({
  name: 'tidings_events_failed_total',
  help: 'Records that failed in a consumer group. outcome: retry (sent to a retry tier), dead_letter (sent to the DLQ; malformed records included).',
  labelNames: ['consumergroup', 'topic', 'event_type', 'outcome'] as const,
  registers,
});

export const committedRecords = new Counter({
  name: 'tidings_consumer_committed_records_total',
  help: 'Records whose offsets a consumer group committed; 0 from the moment the runtime starts, so a rate of 0 means processing stopped.',
  labelNames: ['consumergroup'] as const,
  registers,
});

export const processingDuration = new Histogram({
  name: 'tidings_processing_duration_seconds',
  help: 'Per record: how long its chunk took from being read to its failures being routed (outage retries included).',
  labelNames: ['consumergroup', 'topic'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers,
});

export const consumerGroupLag = new Gauge({
  name: 'kafka_consumergroup_lag',
  help: 'High watermark minus the committed offset (the log start when nothing is committed), per partition; kafka_exporter\'s name. A worker exports its own groups, <group> and <group>.retry.',
  labelNames: ['consumergroup', 'topic', 'partition'] as const,
  registers,
});

export const consumerGroupLagSum = new Gauge({
  name: 'kafka_consumergroup_lag_sum',
  help: 'kafka_consumergroup_lag summed over the partitions of a topic.',
  labelNames: ['consumergroup', 'topic'] as const,
  registers,
});

export const retryTierDepth = new Gauge({
  name: 'tidings_retry_tier_depth',
  help: 'Records waiting in a retry tier topic of a consumer group (its <group>.retry group\'s lag on the tier).',
  labelNames: ['consumergroup', 'topic', 'tier'] as const,
  registers,
});

export const dlqMessages = new Gauge({
  name: 'tidings_dlq_messages',
  help: 'Records kept in a DLQ topic (high minus low watermark).',
  labelNames: ['topic'] as const,
  registers,
});

// Registered only by the processes that read them from the database (the outbox relay and the
// API), so no other process exports a 0 that means nothing.
export const outboxBacklogRows = new Gauge({
  name: 'tidings_outbox_backlog_rows',
  help: 'Outbox rows not yet published (set-aside rows excluded).',
  registers: [],
});

export const outboxOldestAge = new Gauge({
  name: 'tidings_outbox_oldest_age_seconds',
  help: 'Age of the oldest unpublished outbox row, by the database clock; 0 when there is none.',
  registers: [],
});

export const deliveries = new Counter({
  name: 'tidings_deliveries_total',
  help: 'Notification delivery attempts by outcome, event notifications and held-back sends (quiet hours, reminders, digests) alike. status: sent, failed (not sent this time; retried or given up), suppressed (channel off or rate limited), deferred (held by quiet hours). provider "none" when no provider was called.',
  labelNames: ['channel', 'provider', 'status'] as const,
  registers,
});

export const deliveryLatency = new Histogram({
  name: 'tidings_delivery_latency_seconds',
  help: 'Until the provider accepted the notification. category auth or payment (the event\'s family): from the publish of the event (its original Kafka timestamp); deferred (held by quiet hours) or scheduled (renewal reminders, daily digests): from the time it fell due.',
  labelNames: ['channel', 'category'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers,
});

export const rateLimitSuppressed = new Counter({
  name: 'tidings_rate_limit_suppressed_total',
  help: 'Notifications held back by the per-user rate limit of their channel.',
  labelNames: ['channel'] as const,
  registers,
});

/** Each provider's breaker state as a call would find it now, by provider name (see watchCircuitBreaker). */
const circuitStates = new Map<string, () => number>();

export const circuitBreakerState = new Gauge({
  name: 'tidings_circuit_breaker_state',
  help: 'State of a provider\'s circuit breaker as a call would find it at scrape time: 0 closed, 1 half-open (the next call is the trial, or the trial is under way), 2 open.',
  labelNames: ['provider'] as const,
  registers,
  // Read at each scrape, not set on transitions: an open circuit whose cool-down has passed is
  // half-open from that moment, though nothing changes until the next call.
  collect() {
    for (const [provider, state] of circuitStates) this.set({ provider }, state());
  },
});

/**
 * Makes `tidings_circuit_breaker_state{provider}` read `state()` at every scrape. A later
 * breaker of the same provider name takes the series over (a provider built again).
 */
export function watchCircuitBreaker(provider: string, state: () => number): void {
  circuitStates.set(provider, state);
}

let defaultsOn = false;

/** Adds prom-client's default process and Node.js metrics (CPU, memory, event-loop lag, GC) to the registry. Idempotent. */
export function enableDefaultMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: metricsRegistry });
}

/** Brings gauges read on demand up to date before a scrape (e.g. the outbox backlog). Must not throw. */
export type MetricsRefresher = () => Promise<void>;

/** How long a scrape waits for the refreshers; a slower one leaves its gauges as they were. */
const REFRESH_TIMEOUT_MS = 2_000;

/** The registry in Prometheus text format, after the refreshers have run (or timed out). Never throws for a refresher. */
export async function renderMetrics(refreshers: readonly MetricsRefresher[] = []): Promise<string> {
  if (refreshers.length > 0) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, REFRESH_TIMEOUT_MS);
    });
    await Promise.race([Promise.allSettled(refreshers.map((refresh) => refresh())), timeout]);
    clearTimeout(timer);
  }
  return metricsRegistry.metrics();
}
