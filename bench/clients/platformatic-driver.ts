import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError, describe } from '../../src/errors';
import { kafkaSecurityConfig, type KafkaConnectionOptions } from '../../src/kafka/client';
import { partitionForKey } from '../../src/producer/partitioner';
import { installedPlatformatic, PLATFORMATIC_VERSION } from './install';
import type * as Platformatic from './platformatic-kafka';
import type {
  BatchContext,
  CommitOffsets,
  ConsumedRecord,
  ConsumerSpec,
  DriverAdmin,
  DriverConsumer,
  DriverProducer,
  GroupJoin,
  KafkaDriver,
  PartitionAck,
  ProduceRecord,
  ProducerSpec,
  RecordHeaders,
  TopicRecords,
  TopicSpec,
} from '../../src/kafka/driver';

type Library = Platformatic.Library;
type PMessage = Platformatic.Message;
type PStream = Platformatic.MessagesStream;

/**
 * Tidings' Kafka interface on @platformatic/kafka (measured against kafkajs by the bench's
 * `kafka-client` scenario; docs/kafka-client.md says why it is not offered). Differences
 * from kafkajs behind the same interface: heartbeats run in the background (`heartbeat()` has
 * nothing to do), `pause()` pauses the whole consumer rather than one partition, partitions
 * are always Java's murmur2 (its own default hash differs from Java's), and errors are
 * platformatic's (`code`, `canRetry`), not kafkajs's protocol `type`.
 */
export function platformaticDriver(connection: KafkaConnectionOptions, home: string): KafkaDriver {
  const library = loadPlatformatic(home);
  const security = kafkaSecurityConfig(connection.security);
  const sasl = connection.security?.sasl;
  const base = {
    clientId: connection.clientId ?? 'tidings',
    bootstrapBrokers: connection.brokers,
    ...(typeof security.ssl === 'object' && { tls: security.ssl }),
    ...(sasl && { sasl: { mechanism: sasl.mechanism.toUpperCase() as Platformatic.SASLMechanismValue, username: sasl.username, password: sasl.password } }),
  };
  return {
    name: 'platformatic',
    producer: (spec = {}) => new PlatformaticProducer(library, base, spec),
    consumer: (spec) => new PlatformaticConsumer(library, base, spec),
    admin: () => new PlatformaticAdmin(new library.Admin(base)),
  };
}

/** The library installed under `home` (./install.ts), or a ConfigError saying what it needs. */
function loadPlatformatic(home: string): Library {
  // Its code calls Promise.withResolvers (Node 22+) on every request; failing here beats a TypeError mid-send.
  if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
    throw new ConfigError(`the @platformatic/kafka client needs Node.js 22 or later (it uses Promise.withResolvers); this process runs Node ${process.version}: use kafkajs, the default`);
  }
  if (!installedPlatformatic(home)) {
    throw new ConfigError(`@platformatic/kafka ${PLATFORMATIC_VERSION} is not installed in ${home}: the bench's kafka-client scenario installs it there (it is not a dependency of Tidings)`);
  }
  try {
    // An ES module: Node 22 loads it with require().
    return createRequire(path.join(home, 'package.json'))('@platformatic/kafka') as Library;
  } catch (error) {
    throw new ConfigError(`the @platformatic/kafka client in ${home} could not be loaded: ${describe(error)}`, error);
  }
}

const toBuffer = (value?: Buffer | string): Buffer | undefined => (value === undefined || Buffer.isBuffer(value) ? value : Buffer.from(value));
const SERIALIZERS = { key: toBuffer, value: toBuffer, headerKey: toBuffer, headerValue: toBuffer };

class PlatformaticProducer implements DriverProducer {
  private readonly native: Platformatic.Producer;
  /** Round-robin position of unkeyed records, per topic. */
  private readonly next = new Map<string, number>();

  constructor(
    library: Library,
    base: Platformatic.BaseOptions,
    private readonly spec: ProducerSpec,
  ) {
    this.native = new library.Producer({
      ...base,
      idempotent: true,
      acks: library.ProduceAcks.ALL,
      compression: spec.compression === 'gzip' ? 'gzip' : 'none',
      ...(spec.metadataMaxAgeMs !== undefined && { metadataMaxAge: spec.metadataMaxAgeMs }),
      serializers: SERIALIZERS,
    });
  }

  async connect(): Promise<void> {
    // Connections are opened by the first request; the producer id is asked for now, as kafkajs does.
    await this.native.initIdempotentProducer({});
  }

  async disconnect(): Promise<void> {
    await this.native.close();
  }

  async send(batch: TopicRecords[]): Promise<PartitionAck[]> {
    const metadata = await this.native.metadata({ topics: batch.map((t) => t.topic) });
    const messages: Platformatic.MessageToProduce[] = [];
    for (const { topic, messages: records } of batch) {
      const partitions = metadata.topics.get(topic)?.partitionsCount ?? 1;
      for (const record of records) {
        const partition = record.partition ?? this.partitionOf(topic, record, partitions);
        this.spec.onPartitioned?.(record, partition);
        messages.push({
          topic,
          partition,
          key: record.key ?? undefined,
          value: record.value ?? undefined,
          headers: produceHeaders(record.headers),
          ...(record.timestamp !== undefined && { timestamp: BigInt(record.timestamp) }),
        });
      }
    }
    const result = await this.native.send({ messages });
    return (result.offsets ?? []).map((o) => ({ topicName: o.topic, partition: o.partition, baseOffset: String(o.offset) }));
  }

  /** Java's keyed partitioning (the SDK's and kafkajs's); unkeyed records round-robin. */
  private partitionOf(topic: string, record: ProduceRecord, partitions: number): number {
    if (record.key !== null && record.key !== undefined) return partitionForKey(record.key, partitions);
    const next = this.next.get(topic) ?? 0;
    this.next.set(topic, next + 1);
    return next % partitions;
  }
}

function produceHeaders(headers: RecordHeaders | undefined): Record<string, Buffer | string> | undefined {
  if (headers === undefined) return undefined;
  const out: Record<string, Buffer | string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) throw new ConfigError(`header "${name}" has several values; the platformatic client sends one value per header name`);
    out[name] = value;
  }
  return out;
}

class PlatformaticConsumer implements DriverConsumer {
  private readonly native: Platformatic.Consumer;
  private subscription: { topics: string[]; fromBeginning: boolean } | undefined;
  private stream: PStream | undefined;
  private running = false;
  private pumping: Promise<void> | undefined;

  constructor(
    private readonly library: Library,
    base: Platformatic.BaseOptions,
    private readonly spec: ConsumerSpec,
  ) {
    this.native = new library.Consumer({
      ...base,
      groupId: spec.groupId,
      sessionTimeout: spec.sessionTimeout,
      heartbeatInterval: spec.heartbeatInterval,
      autocommit: false,
      ...(spec.maxBytesPerPartition !== undefined && { maxBytesPerPartition: spec.maxBytesPerPartition }),
      ...(spec.maxBytes !== undefined && { maxBytes: spec.maxBytes }),
      ...(spec.maxWaitTimeInMs !== undefined && { maxWaitTime: spec.maxWaitTimeInMs }),
    });
  }

  async connect(): Promise<void> {
    // The group is joined by consume(); nothing to open before.
  }

  async disconnect(): Promise<void> {
    this.running = false;
    await this.stream?.close();
    await this.pumping;
    await this.native.close();
  }

  async subscribe(subscription: { topics: string[]; fromBeginning: boolean }): Promise<void> {
    this.subscription = subscription;
  }

  async run(eachBatch: (context: BatchContext) => Promise<void>): Promise<void> {
    if (!this.subscription) throw new ConfigError(`consumer ${this.spec.groupId}: run() before subscribe()`);
    const { MessagesStreamModes, MessagesStreamFallbackModes } = this.library;
    this.stream = await this.native.consume({
      topics: this.subscription.topics,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: this.subscription.fromBeginning ? MessagesStreamFallbackModes.EARLIEST : MessagesStreamFallbackModes.LATEST,
      autocommit: false,
      // Records buffered ahead: one batch here is what the buffer holds, so a kafkajs-sized one
      // (a fetch of every assigned partition) needs more than the default 1,024.
      highWaterMark: 8_192,
    });
    this.running = true;
    this.pumping = this.pump(this.stream, eachBatch);
  }

  /** Hands what the stream has buffered to `eachBatch`, one partition at a time in arrival order. */
  private async pump(stream: PStream, eachBatch: (context: BatchContext) => Promise<void>): Promise<void> {
    // The listener stays for the stream's life: without one the stream counts as unread and stops fetching.
    let wake: (() => void) | undefined;
    const notify = (): void => wake?.();
    stream.on('readable', notify).on('close', notify);
    while (this.running) {
      let message = stream.read() as PMessage | null;
      if (message === null) {
        if (stream.destroyed) return;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const batches = new Map<string, PMessage[]>();
      do {
        const key = `${message.topic}\0${message.partition}`;
        const list = batches.get(key);
        if (list) list.push(message);
        else batches.set(key, [message]);
      } while ((message = stream.read() as PMessage | null) !== null);
      for (const messages of batches.values()) {
        if (!this.running) return;
        await eachBatch(this.context(stream, messages));
      }
    }
  }

  private context(stream: PStream, messages: PMessage[]): BatchContext {
    const { topic, partition } = messages[0]!;
    const generation = this.native.generationId;
    const leaderEpoch = messages[messages.length - 1]!.leaderEpoch;
    return {
      batch: { topic, partition, messages: messages.map(consumedRecord) },
      heartbeat: async () => undefined,
      pause: () => {
        stream.pause();
        return () => stream.resume();
      },
      resolveOffset: () => undefined,
      commitOffsetsIfNecessary: (offsets: CommitOffsets) =>
        this.native.commit({
          offsets: offsets.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: BigInt(p.offset), leaderEpoch }))),
        }),
      isRunning: () => this.running,
      isStale: () => this.native.generationId !== generation,
    };
  }

  onGroupJoin(listener: (join: GroupJoin) => void): () => void {
    const handler = (payload: Platformatic.ConsumerGroupJoinPayload): void => {
      const assignment: Record<string, number[]> = {};
      for (const a of payload.assignments ?? []) assignment[a.topic] = a.partitions;
      listener({ groupId: payload.groupId, memberId: payload.memberId, assignment });
    };
    this.native.on('consumer:group:join', handler);
    return () => this.native.off('consumer:group:join', handler);
  }

  onRebalancing(listener: () => void): () => void {
    const handler = (): void => listener();
    this.native.on('consumer:group:rebalance', handler);
    return () => this.native.off('consumer:group:rebalance', handler);
  }
}

function consumedRecord(m: PMessage): ConsumedRecord {
  const headers: RecordHeaders = {};
  for (const [name, value] of m.headerEntries) headers[name.toString()] = value;
  return { offset: String(m.offset), key: m.key ?? null, value: m.value ?? null, timestamp: String(m.timestamp), headers };
}

class PlatformaticAdmin implements DriverAdmin {
  constructor(private readonly native: Platformatic.Admin) {}

  async connect(): Promise<void> {}

  async disconnect(): Promise<void> {
    await this.native.close();
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    const existing = new Set(await this.native.listTopics());
    for (const t of topics.filter((spec) => !existing.has(spec.topic))) {
      await this.native.createTopics({ topics: [t.topic], partitions: t.numPartitions, replicas: t.replicationFactor });
    }
  }

  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const metadata = await this.native.metadata({ topics });
    return new Map(topics.map((t) => [t, metadata.topics.get(t)?.partitionsCount ?? 0]));
  }
}
