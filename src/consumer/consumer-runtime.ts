import { performance } from 'node:perf_hooks';
import type { Kafka, Producer } from 'kafkajs';
import type { BatchContext, DriverConsumer, DriverProducer, KafkaDriver } from '../kafka/driver';
import { kafkajsDriver, kafkajsProducer, wrapKafkajsProducer } from '../kafka/kafkajs-driver';
import type { Db } from '../db/database';
import { describe } from '../errors';
import { ensureTopics } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/logger';
import { faultPoint } from '../observability/fault-injection';
import type { EventRegistry } from '../registry/event-registry';
import type { DataKeyReader } from '../crypto/personal-fields';
import { retry, RetryAbortedError } from '../retry/retry';
import { ChunkHeartbeat } from './chunk-heartbeat';
import { ChunkOutcomes } from './chunk-outcomes';
import { ChunkProcessor, type ConsumerStats, type Lane, type Route } from './chunk-processor';
import { ConsumerMetrics } from './consumer-metrics';
import type { EventHandler, RecordDecoder } from './event-handler';
import { dueAtOf } from './failure-headers';
import { KeyHolds } from './key-holds';
import { toInboundRecord, type InboundRecord } from './messages';
import { retryTopic, retryTopics, topologyTopicSpecs, type RetryTopology } from './retry-topology';
import { consumerRuntimeSettings, type RuntimeSettings } from './runtime-options';

export type { ConsumerStats, Lane } from './chunk-processor';
export type { DeliveryFailure, EventHandler, RecordDecoder } from './event-handler';

/** Options of a consumer runtime; validated at construction (a bad value throws `ConfigError` naming it). */
export interface ConsumerRuntimeOptions {
  kafka: Kafka;
  /** The Kafka client the group's consumers and producer run on (src/kafka/driver.ts). Default: kafkajs on `kafka`. */
  driver?: KafkaDriver;
  db: Db;
  registry: EventRegistry;
  /** Kafka consumer group id, e.g. `tidings.notification`. Retry tiers use `<groupId>.retry`. */
  groupId: string;
  /** Short name used in retry/DLQ topic names, e.g. `notification`. */
  name: string;
  /** Source topics (at least one). */
  topics: string[];
  /** Sources (among `topics`) whose keys stay in order through retries (later events wait behind a retried one). */
  orderedTopics?: string[];
  /** Delay of each retry tier, each 1 ms to 2^31-1 ms (24.8 days). Default 10 s, 1 min, 10 min, 1 h. */
  retryDelaysMs?: readonly number[];
  handler: EventHandler;
  /** How a record becomes an event (see RecordDecoder). Default: decoded through `registry`, business rules checked. */
  decode?: RecordDecoder;
  /**
   * Users' data keys, to open personal fields sealed by the producers (`Platform.dataKeys`).
   * Without them, records with sealed fields pause the group with KeyUnavailableError naming
   * TIDINGS_MASTER_KEY (never dead-lettered); records without pass as they are.
   */
  dataKeys?: DataKeyReader;
  /** Only these event types (a priority lane); the others are skipped. Default: all. */
  lane?: Lane;
  /** Records per database transaction, 1 to 10 000. Default 500. */
  chunkSize?: number;
  /**
   * Partitions an instance works on at the same time, 1 to 4. Default 1. Each partition's
   * chunks still run one after another, each its own transaction, so per-key order and
   * exactly-once effects hold; with 2 the worker's CPU and PostgreSQL work overlap instead of
   * taking turns (docs/performance.md). Each partition in progress holds a database connection.
   */
  partitionsConcurrency?: number;
  /** A new group starts at the beginning of its topics. Default true: no event is skipped. */
  fromBeginning?: boolean;
  /**
   * How long the broker waits for a silent member before reassigning its partitions, 6 s to
   * 30 min (the broker's default bounds). Default 30 s. Heartbeats go on while a chunk is processed.
   */
  sessionTimeoutMs?: number;
  /** Backoff while PostgreSQL, the registry or the broker is unreachable. Default 200 ms doubling to 30 s. */
  outageBackoff?: { initialMs: number; maxMs: number };
  /**
   * A key hold (ordered topics) whose record has not come back from its tier for this long is
   * released, with a log line. Longer than the longest retry delay; default twice it plus 10 min.
   */
  maxHoldAgeMs?: number;
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
  readonly stats: ConsumerStats = {
    processed: 0,
    skipped: 0,
    erased: 0,
    duplicates: 0,
    malformed: 0,
    retried: 0,
    deadLettered: 0,
    heldBack: 0,
    chunks: 0,
    infrastructureRetries: 0,
    groupJoins: 0,
    rebalances: 0,
  };
  readonly topology: RetryTopology;
  readonly holds: KeyHolds;
  private readonly settings: RuntimeSettings;
  private readonly heartbeatIntervalMs: number;
  private readonly logger: Logger;
  private readonly processor: ChunkProcessor;
  private readonly main: DriverConsumer;
  private readonly retry: DriverConsumer;
  private readonly producer: DriverProducer;
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private readonly metrics: ConsumerMetrics;
  private running = false;
  /** The main consumer has joined its group since the last start. */
  private hasJoined = false;
  /** Aborted by `stop()`: ends an outage's backoff at once, leaving the chunk uncommitted for the next owner. */
  private stopping = new AbortController();

  constructor(private readonly options: ConsumerRuntimeOptions) {
    const { kafka: _kafka, driver: _driver, db: _db, registry: _registry, handler: _handler, decode: _decode, lane: _lane, logger: _logger, dataKeys: _dataKeys, ...values } = options;
    const settings = consumerRuntimeSettings(values);
    this.settings = settings;
    this.logger = options.logger ?? createLogger(`consumer:${settings.groupId}`);
    this.topology = { name: settings.name, sources: settings.topics, delaysMs: settings.retryDelaysMs };
    this.holds = new KeyHolds({ db: options.db, groupId: settings.groupId, tiers: settings.retryDelaysMs.length, maxAgeMs: settings.maxHoldAgeMs, logger: this.logger });
    this.processor = new ChunkProcessor({
      db: options.db,
      registry: options.registry,
      groupId: settings.groupId,
      topology: this.topology,
      orderedSources: new Set(settings.orderedTopics),
      holds: this.holds,
      handler: options.handler,
      decode: options.decode,
      dataKeys: options.dataKeys,
      lane: options.lane,
      logger: this.logger,
      stats: this.stats,
    });
    const sessionTimeout = settings.sessionTimeoutMs;
    this.heartbeatIntervalMs = Math.min(3_000, Math.floor(sessionTimeout / 3));
    const consumerOptions = {
      sessionTimeout,
      heartbeatInterval: this.heartbeatIntervalMs,
      // A fetch's records stay in memory until the last chunk of the batch is done (kafkajs
      // slices them out of the response): 256 KB is over a chunk of 500 typical events per
      // partition, and a whole fetch stays under 4 MB however many partitions a member has.
      // With 1 MB / 10 MB the worker's heap grew ~60 MB larger for no more throughput (docs/performance.md).
      maxBytesPerPartition: 256 * 1024,
      maxBytes: 4 * 1024 * 1024,
      // A fetch returns as soon as records arrive; this only bounds an idle fetch, which a
      // stopping consumer waits for (the 5 s default made every stop take about 5 s).
      maxWaitTimeInMs: 1000,
      partitionsConcurrency: settings.partitionsConcurrency,
      // kafkajs restarts a consumer that crashed (e.g. while the broker restarts); once this
      // runtime is stopping, a restart would only reconnect something being shut down.
      retry: { initialRetryTime: 100, retries: 8, restartOnFailure: async () => this.running },
    };
    const driver = options.driver ?? kafkajsDriver(options.kafka);
    this.main = driver.consumer({ ...consumerOptions, groupId: settings.groupId });
    this.retry = driver.consumer({ ...consumerOptions, groupId: this.retryGroupId });
    for (const consumer of [this.main, this.retry]) {
      consumer.onGroupJoin((join) => {
        this.stats.groupJoins++;
        if (consumer === this.main) this.hasJoined = true;
        this.logger.info({ groupId: join.groupId, memberId: join.memberId, partitions: join.assignment }, 'joined the group');
      });
      consumer.onRebalancing(() => {
        this.stats.rebalances++;
      });
    }
    this.producer = driver.producer(ROUTE_PRODUCER);
    this.metrics = new ConsumerMetrics([settings.groupId, this.retryGroupId]);
  }

  get groupId(): string {
    return this.settings.groupId;
  }

  /** The Kafka group that reads the retry tiers and holds their offsets. */
  get retryGroupId(): string {
    return `${this.settings.groupId}.retry`;
  }

  /** Whether the main consumer has joined its group since the last start (readiness). */
  get joined(): boolean {
    return this.hasJoined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stopping = new AbortController();
    await this.ensureTopology();
    await this.producer.connect();
    const fromBeginning = this.settings.fromBeginning;
    await Promise.all([this.main.connect(), this.retry.connect()]);
    await this.main.subscribe({ topics: this.topology.sources, fromBeginning });
    await this.retry.subscribe({ topics: retryTopics(this.topology), fromBeginning: true });
    await this.main.run((context) => this.onBatch(context, false));
    await this.retry.run((context) => this.onBatch(context, true));
  }

  /** Resolves once the main consumer has joined its group (at once if it already has). */
  async waitForAssignment(timeoutMs = 30_000): Promise<void> {
    if (this.hasJoined) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.groupId} not assigned after ${timeoutMs} ms`)), timeoutMs);
      const remove = this.main.onGroupJoin(() => {
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
    this.hasJoined = false;
    this.stopping.abort();
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    await Promise.all([this.main.disconnect(), this.retry.disconnect()]);
    await this.producer.disconnect();
  }

  /**
   * Runs records read outside the group (by `tidings replay`) through this group's pipeline, as
   * a chunk of its own: the inbox (events the group already applied count in `stats.duplicates`),
   * the handler, failures to the group's retry tiers or DLQ through `producer` (see
   * `routeProducer`), outages retried. The group's offsets are not touched. Returns false if
   * `signal` ended an outage's wait first (the chunk may then be partly done: run it again).
   */
  async processOutsideGroup(records: InboundRecord[], producer: Producer, signal: AbortSignal): Promise<boolean> {
    const readAt = performance.now();
    return this.untilDone(() => this.processAndRoute(records, { producer: wrapKafkajsProducer(producer), group: this.groupId, readAt }), signal);
  }

  /** Creates the group's retry tiers and DLQs that are missing (`start()` does it first). */
  async ensureTopology(): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    let created: string[];
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: this.topology.sources });
      const partitions = new Map(topics.map((t) => [t.name, t.partitions.length]));
      created = await ensureTopics(admin, topologyTopicSpecs(this.topology, (source) => partitions.get(source) ?? 1));
    } finally {
      await admin.disconnect();
    }
    // A tier topic created now (first start, or deleted since) holds nothing: a line headed by
    // a record that was in it would wait for good.
    const emptied = this.topology.sources.flatMap((source) =>
      this.topology.delaysMs.map((_, i) => ({ source, tier: i + 1 })).filter((t) => created.includes(retryTopic(this.topology, source, t.tier))),
    );
    await this.holds.releaseUnreachable(emptied);
  }

  private async onBatch(payload: BatchContext, isRetryTier: boolean): Promise<void> {
    const { batch, heartbeat, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale, pause } = payload;
    const chunkSize = this.settings.chunkSize;
    const group = isRetryTier ? this.retryGroupId : this.groupId;
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
      const readAt = performance.now();
      this.metrics.consumed(group, records);
      // kafkajs heartbeats only between batches: without this a chunk longer than the session
      // timeout gets the member evicted and its partitions (this chunk too) handed to another.
      const liveness = new ChunkHeartbeat(heartbeat, this.heartbeatIntervalMs, this.logger, this.stopping.signal).start();
      let done: boolean;
      try {
        done = await this.untilDone(() => this.processAndRoute(records, { producer: this.producer, group, readAt }), liveness.signal);
      } finally {
        await liveness.stop();
      }
      // Stopping, or the group rebalanced during an outage: the chunk is left uncommitted to its next owner.
      if (!done) return;
      // Evicted (or the partition was re-sought) while the chunk ran: the partition may already be
      // another member's, which reprocesses the chunk (the inbox and the ledger claims make that harmless).
      if (liveness.membership === 'fenced' || isStale()) return;
      const last = slice[slice.length - 1]!;
      faultPoint('consumer.before-offset-commit');
      resolveOffset(last.offset);
      // Offsets are committed only after the database commit and the retry/DLQ records are acknowledged.
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }] }],
      });
      this.metrics.committedRecords(group, slice.length);
      // A rebalance waits for this member: rejoin now rather than after the rest of the batch.
      if (liveness.membership === 'rebalancing') return;
      await heartbeat();
    }
  }

  /** One attempt at a chunk; its outcomes are counted (as `group`'s, read at `readAt`) only once its routes are produced. */
  private async processAndRoute(records: InboundRecord[], chunk: { producer: DriverProducer; group: string; readAt: number }): Promise<void> {
    const outcomes = new ChunkOutcomes();
    const routes = await this.processor.process(records, outcomes);
    faultPoint('consumer.after-db-commit');
    await produceRoutes(chunk.producer, routes);
    this.metrics.routed(chunk.group, records, outcomes, (performance.now() - chunk.readAt) / 1000);
  }

  /**
   * Runs `work` until it succeeds. A failure here is an outage (PostgreSQL, the registry or
   * the broker): the chunk is retried as it is with backoff, never skipped or dead-lettered.
   * Returns false if `signal` ended the wait (the runtime is stopping or the group rebalancing).
   */
  private async untilDone(work: () => Promise<void>, signal: AbortSignal): Promise<boolean> {
    try {
      await retry(work, {
        what: 'chunk',
        ...this.settings.outageBackoff,
        signal,
        onRetry: (error, attempt, delayMs) => {
          this.stats.infrastructureRetries++;
          this.logger.warn({ attempt: attempt + 1, retryInMs: delayMs, error: describe(error) }, 'chunk failed: infrastructure unavailable, retrying the same chunk');
        },
      });
      return true;
    } catch (error) {
      if (error instanceof RetryAbortedError) return false;
      throw error;
    }
  }
}

/** The producer of retry-tier and DLQ records: idempotent, in order, keyed like the source. */
const ROUTE_PRODUCER = { partitioner: 'client-default' } as const;

/** The route producer on kafkajs, for the operator tools (redrive, replay --reprocess). */
export function routeProducer(kafka: Kafka): Producer {
  return kafkajsProducer(kafka, ROUTE_PRODUCER);
}

/**
 * The most one send of routes carries. The broker refuses a record batch larger than the
 * topic's max.message.bytes (1 MB by default) and kafkajs sends one batch per partition, while
 * a chunk's records can weigh that much before their failure headers are added: one send for a
 * chunk of large dead letters would fail the same way on every retry and stop the partition.
 */
const MAX_SEND_BYTES = 512 * 1024;

/** Sends the routes in order, in sends of at most MAX_SEND_BYTES (one larger record goes alone). */
async function produceRoutes(producer: DriverProducer, routes: Route[]): Promise<void> {
  let start = 0;
  while (start < routes.length) {
    let end = start;
    let bytes = 0;
    while (end < routes.length && (end === start || bytes + routeBytes(routes[end]!) <= MAX_SEND_BYTES)) bytes += routeBytes(routes[end++]!);
    const byTopic = new Map<string, Route['message'][]>();
    for (const r of routes.slice(start, end)) {
      const messages = byTopic.get(r.topic) ?? [];
      messages.push(r.message);
      byTopic.set(r.topic, messages);
    }
    await producer.send([...byTopic].map(([topic, messages]) => ({ topic, messages })));
    start = end;
  }
}

function routeBytes({ message }: Route): number {
  const length = (v: unknown): number => (typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : 0);
  return length(message.value) + length(message.key) + Object.entries(message.headers ?? {}).reduce((sum, [name, value]) => sum + name.length + length(value), 0);
}
