/**
 * The Kafka client as Tidings uses it: produce batches (idempotent, acks=all), consume a
 * group's records one partition's batch at a time with manual commits, and the few admin calls
 * the hot paths need. The Publisher and the consumer runtime talk to this, not to a client
 * library, so another client can be measured or offered behind it (docs/kafka-client.md).
 * Shapes follow kafkajs's where they are the same thing, so its adapter passes them through.
 */

/** Header values as read: kafkajs gives Buffers (an array for a repeated header). */
export type RecordHeaders = Record<string, Buffer | string | Array<Buffer | string> | undefined>;

/** A record to produce. `partition` set: sent there; else keyed partitioning (see ProducerSpec). */
export interface ProduceRecord {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  partition?: number;
  headers?: RecordHeaders;
  /** Milliseconds since the epoch, as a string (kafkajs's form). Default: the producer's clock. */
  timestamp?: string;
}

export interface TopicRecords {
  topic: string;
  messages: ProduceRecord[];
}

/** Where a partition's part of a request was written: its records follow `baseOffset` in send order. */
export interface PartitionAck {
  topicName: string;
  partition: number;
  baseOffset?: string;
}

/** Told the partition each record was given (a client may partition again after a metadata refresh). */
export type OnPartitioned = (record: ProduceRecord, partition: number) => void;

export interface ProducerSpec {
  /**
   * `java`: Java's murmur2 over the key (what Tidings' SDK, outbox and Java clients agree on),
   * over the producer's own metadata, so added partitions are followed. `client-default`: the
   * client library's own default (kafkajs's is the same hash). Default `java`.
   */
  partitioner?: 'java' | 'client-default';
  /** Partition counts and leaders are re-read at least this often. Default: the client's. */
  metadataMaxAgeMs?: number;
  onPartitioned?: OnPartitioned;
  compression?: 'none' | 'gzip';
}

/** An idempotent producer (acks=all, one request in flight per broker, so retries keep order). */
export interface DriverProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** One produce request per broker for the whole batch; resolves once every partition acknowledged. */
  send(batch: TopicRecords[]): Promise<PartitionAck[]>;
}

/** A record as consumed (kafkajs's KafkaMessage fields Tidings reads). */
export interface ConsumedRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Milliseconds since the epoch, as a string. */
  timestamp: string;
  headers?: RecordHeaders;
}

export interface CommitOffsets {
  topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
}

/** One partition's records and what the handler may do about them (kafkajs's eachBatch payload, the parts Tidings uses). */
export interface BatchContext {
  batch: { topic: string; partition: number; messages: ConsumedRecord[] };
  /** Tells the group this member is alive; rejects with the broker's answer (e.g. REBALANCE_IN_PROGRESS). */
  heartbeat(): Promise<void>;
  /** Stops fetching this partition; the returned function resumes it. */
  pause(): () => void;
  /** Marks `offset` processed (the next fetch of this partition starts after it). */
  resolveOffset(offset: string): void;
  /** Commits `offsets` (the next offset to read) for the group now. */
  commitOffsetsIfNecessary(offsets: CommitOffsets): Promise<void>;
  /** False once the consumer is stopping. */
  isRunning(): boolean;
  /** True once the partition was re-sought or revoked: the rest of the batch is not this member's to commit. */
  isStale(): boolean;
}

export interface GroupJoin {
  groupId: string;
  memberId: string;
  /** Topic → partitions assigned to this member. */
  assignment: Record<string, number[]>;
}

export interface ConsumerSpec {
  groupId: string;
  sessionTimeout: number;
  heartbeatInterval: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  maxWaitTimeInMs?: number;
  /** Partitions whose batches are handled at the same time (each partition's still one after another). Default 1. */
  partitionsConcurrency?: number;
  /** Retries of the client's own; `restartOnFailure` says whether a crashed consumer rejoins. */
  retry?: { initialRetryTime?: number; retries?: number; restartOnFailure?: (error: Error) => Promise<boolean> };
}

/** A group member: manual commits, each partition's batches handled one at a time (up to `partitionsConcurrency` partitions at once). */
export interface DriverConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[]; fromBeginning: boolean }): Promise<void>;
  /** Starts consuming; resolves once running. Offsets are committed only through the context. */
  run(eachBatch: (context: BatchContext) => Promise<void>): Promise<void>;
  /** Calls `listener` on every join of the group; returns a function that removes it. */
  onGroupJoin(listener: (join: GroupJoin) => void): () => void;
  /** Calls `listener` when the group starts rebalancing; returns a function that removes it. */
  onRebalancing(listener: () => void): () => void;
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
}

/** The admin calls the hot paths and the bench need; operator tools use kafkajs's admin directly. */
export interface DriverAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** Creates the topics that do not exist yet; resolves once they are usable. */
  createTopics(topics: TopicSpec[]): Promise<void>;
  /** Topic → partition count. */
  partitionCounts(topics: string[]): Promise<Map<string, number>>;
}

/** A Kafka client library behind Tidings' interface. */
export interface KafkaDriver {
  /** `kafkajs` or `platformatic`: named in errors and bench rows. */
  readonly name: string;
  producer(spec?: ProducerSpec): DriverProducer;
  consumer(spec: ConsumerSpec): DriverConsumer;
  admin(): DriverAdmin;
}
