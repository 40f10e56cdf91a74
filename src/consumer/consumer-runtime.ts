import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import type { Db } from '../db/database';
import { describe } from '../errors';
import { ensureTopics } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/logger';
import { faultPoint } from '../observability/fault-injection';
import type { EventRegistry } from '../registry/event-registry';
import { backoffDelay } from '../retry/backoff';
import { ChunkProcessor, type ConsumerStats, type Lane, type Route } from './chunk-processor';
import type { EventHandler } from './event-handler';
import { dueAtOf } from './failure-headers';
import { KeyHolds } from './key-holds';
import { toInboundRecord } from './messages';
import { DEFAULT_RETRY_DELAYS_MS, retryTopics, topologyTopicSpecs, type RetryTopology } from './retry-topology';

export type { ConsumerStats, Lane } from './chunk-processor';
export type { DeliveryFailure, EventHandler } from './event-handler';

export interface ConsumerRuntimeOptions {
  kafka: Kafka;
  db: Db;
  registry: EventRegistry;
  /** Kafka consumer group id, e.g. `tidings.notification`. Retry tiers use `<groupId>.retry`. */
  groupId: string;
  /** Short name used in retry/DLQ topic names, e.g. `notification`. */
  name: string;
  /** Source topics. */
  topics: string[];
  /** Sources whose keys stay in order through retries (later events wait behind a retried one). */
  orderedTopics?: string[];
  /** Delay of each retry tier. Default 10 s, 1 min, 10 min, 1 h. */
  retryDelaysMs?: readonly number[];
  handler: EventHandler;
  /** Only these event types (a priority lane); the others are skipped. Default: all. */
  lane?: Lane;
  /** Records per database transaction. Default 500. */
  chunkSize?: number;
  /** A new group starts at the beginning of its topics. Default true: no event is skipped. */
  fromBeginning?: boolean;
  /** How long the broker waits for a silent member before reassigning its partitions. Default 30 s (broker minimum 6 s). */
  sessionTimeoutMs?: number;
  /** Backoff while PostgreSQL, the registry or the broker is unreachable. Default 200 ms doubling to 30 s. */
  outageBackoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
}

/**
 * The consumer runtime every Tidings consumer group runs on. Two Kafka consumers share one
 * processing pipeline: the main one reads the source topics, the retry one reads the
 * group's retry tiers and waits for each record's due time by pausing only its partition.
 * Per chunk: effects in one PostgreSQL transaction with the inbox, side effects after the
 * commit, failures routed to a retry tier or the DLQ, and only then the offset commit.
 */
export class ConsumerRuntime {
  readonly stats: ConsumerStats = { processed: 0, skipped: 0, duplicates: 0, malformed: 0, retried: 0, deadLettered: 0, heldBack: 0, chunks: 0, infrastructureRetries: 0 };
  readonly topology: RetryTopology;
  readonly holds: KeyHolds;
  private readonly logger: Logger;
  private readonly processor: ChunkProcessor;
  private readonly main: Consumer;
  private readonly retry: Consumer;
  private readonly producer: Producer;
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private running = false;

  constructor(private readonly options: ConsumerRuntimeOptions) {
    this.logger = options.logger ?? createLogger(`consumer:${options.groupId}`);
    this.topology = { name: options.name, sources: options.topics, delaysMs: options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS };
    this.holds = new KeyHolds(options.db, options.groupId);
    this.processor = new ChunkProcessor({
      db: options.db,
      registry: options.registry,
      groupId: options.groupId,
      topology: this.topology,
      orderedSources: new Set(options.orderedTopics ?? []),
      holds: this.holds,
      handler: options.handler,
      lane: options.lane,
      logger: this.logger,
      stats: this.stats,
    });
    const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
    const consumerOptions = {
      sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      maxBytesPerPartition: 1024 * 1024,
      // A fetch returns as soon as records arrive; this only bounds an idle fetch, which a
      // stopping consumer waits for (the 5 s default made every stop take about 5 s).
      maxWaitTimeInMs: 1000,
      // kafkajs restarts a consumer that crashed (e.g. while the broker restarts); once this
      // runtime is stopping, a restart would only reconnect something being shut down.
      retry: { initialRetryTime: 100, retries: 8, restartOnFailure: async () => this.running },
    };
    this.main = options.kafka.consumer({ ...consumerOptions, groupId: options.groupId });
    this.retry = options.kafka.consumer({ ...consumerOptions, groupId: `${options.groupId}.retry` });
    this.producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  get groupId(): string {
    return this.options.groupId;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.ensureTopology();
    await this.producer.connect();
    const fromBeginning = this.options.fromBeginning ?? true;
    await Promise.all([this.main.connect(), this.retry.connect()]);
    await this.main.subscribe({ topics: this.topology.sources, fromBeginning });
    await this.retry.subscribe({ topics: retryTopics(this.topology), fromBeginning: true });
    const run = { autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1 } as const;
    await this.main.run({ ...run, eachBatch: (payload) => this.onBatch(payload, false) });
    await this.retry.run({ ...run, eachBatch: (payload) => this.onBatch(payload, true) });
  }

  /** Resolves once the main consumer has joined its group. */
  async waitForAssignment(timeoutMs = 30_000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.groupId} not assigned after ${timeoutMs} ms`)), timeoutMs);
      const remove = this.main.on(this.main.events.GROUP_JOIN, () => {
        clearTimeout(timer);
        remove();
        resolve();
      });
    });
  }

  /** Lets the chunk in progress finish (or abandons it uncommitted), then leaves the groups. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    await Promise.all([this.main.disconnect(), this.retry.disconnect()]);
    await this.producer.disconnect();
  }

  private async ensureTopology(): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: this.topology.sources });
      const partitions = new Map(topics.map((t) => [t.name, t.partitions.length]));
      await ensureTopics(admin, topologyTopicSpecs(this.topology, (source) => partitions.get(source) ?? 1));
    } finally {
      await admin.disconnect();
    }
  }

  private async onBatch(payload: EachBatchPayload, isRetryTier: boolean): Promise<void> {
    const { batch, heartbeat, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale, pause } = payload;
    const chunkSize = this.options.chunkSize ?? 500;
    let messages = batch.messages;
    if (isRetryTier) {
      // Records in a tier are due in order; stop at the first one that is not due yet and
      // pause just this partition until then. Other partitions and tiers keep flowing.
      const now = Date.now();
      const firstNotDue = messages.findIndex((m) => dueAtOf(toInboundRecord(batch.topic, batch.partition, m)) > now);
      if (firstNotDue >= 0) {
        const dueAt = dueAtOf(toInboundRecord(batch.topic, batch.partition, messages[firstNotDue]!));
        messages = messages.slice(0, firstNotDue);
        const resume = pause();
        const timer = setTimeout(() => {
          this.resumeTimers.delete(timer);
          resume();
        }, dueAt - now);
        this.resumeTimers.add(timer);
      }
    }
    for (let start = 0; start < messages.length; start += chunkSize) {
      if (!isRunning() || isStale()) return;
      const slice = messages.slice(start, start + chunkSize);
      const records = slice.map((m) => toInboundRecord(batch.topic, batch.partition, m));
      const done = await this.untilDone(() => this.processAndRoute(records), heartbeat, isRunning);
      if (!done) return;
      const last = slice[slice.length - 1]!;
      faultPoint('consumer.before-offset-commit');
      resolveOffset(last.offset);
      // Offsets are committed only after the database commit and the retry/DLQ records are acknowledged.
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }] }],
      });
      await heartbeat();
    }
  }

  private async processAndRoute(records: ReturnType<typeof toInboundRecord>[]): Promise<void> {
    const routes = await this.processor.process(records);
    faultPoint('consumer.after-db-commit');
    await this.produce(routes);
  }

  private async produce(routes: Route[]): Promise<void> {
    if (routes.length === 0) return;
    const byTopic = new Map<string, Route['message'][]>();
    for (const r of routes) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r.message]);
    await this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
  }

  /**
   * Runs `work` until it succeeds. A failure here is an outage (PostgreSQL, the registry or
   * the broker): the chunk is retried as it is with backoff, never skipped or dead-lettered.
   * Returns false if the consumer is stopping.
   */
  private async untilDone(work: () => Promise<void>, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<boolean> {
    const backoff = this.options.outageBackoff ?? { initialMs: 200, maxMs: 30_000 };
    for (let attempt = 0; ; attempt++) {
      try {
        await work();
        return true;
      } catch (error) {
        this.stats.infrastructureRetries++;
        const wait = backoffDelay(attempt, backoff.initialMs, backoff.maxMs);
        this.logger.warn({ attempt: attempt + 1, retryInMs: wait, error: describe(error) }, 'chunk failed: infrastructure unavailable, retrying the same chunk');
        await sleepWhileRunning(wait, isRunning);
        if (!isRunning()) return false;
        // Keeps the group membership through long outages; a rebalance ends this chunk's ownership.
        await heartbeat();
      }
    }
  }
}

async function sleepWhileRunning(ms: number, isRunning: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && isRunning()) await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
}
