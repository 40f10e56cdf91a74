import { CompressionTypes, Partitioners, type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import { javaKeyPartitioner } from '../producer/partitioner';
import type { BatchContext, DriverAdmin, DriverConsumer, DriverProducer, GroupJoin, KafkaDriver, PartitionAck, ProducerSpec, TopicRecords, TopicSpec } from './driver';

/**
 * Tidings' Kafka interface on kafkajs, the default client. Each call is the kafkajs call the
 * code made before the interface existed, with the same settings: records, batches and
 * eachBatch payloads pass through as they are, so nothing is copied per record.
 */
export function kafkajsDriver(kafka: Kafka): KafkaDriver {
  return {
    name: 'kafkajs',
    producer: (spec = {}) => new KafkajsProducer(kafkajsProducer(kafka, spec), spec.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None),
    consumer: ({ partitionsConcurrency, ...spec }) => new KafkajsConsumer(kafka.consumer(spec), partitionsConcurrency ?? 1),
    admin: () => new KafkajsAdmin(kafka.admin()),
  };
}

/**
 * The kafkajs producer for `spec`: idempotent, one request in flight (so retries keep order),
 * partitioned by Java's murmur2 over the producer's own metadata unless `client-default`.
 * Operator tools that still use kafkajs directly create theirs here too.
 */
export function kafkajsProducer(kafka: Kafka, spec: ProducerSpec = {}): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    ...(spec.metadataMaxAgeMs !== undefined && { metadataMaxAge: spec.metadataMaxAgeMs }),
    createPartitioner: spec.partitioner === 'client-default' ? Partitioners.DefaultPartitioner : javaKeyPartitioner(spec.onPartitioned),
  });
}

/** A kafkajs producer (e.g. an operator tool's) behind the interface. */
export function wrapKafkajsProducer(producer: Producer): DriverProducer {
  return new KafkajsProducer(producer, CompressionTypes.None);
}

class KafkajsProducer implements DriverProducer {
  constructor(
    private readonly native: Producer,
    private readonly compression: CompressionTypes,
  ) {}

  connect(): Promise<void> {
    return this.native.connect();
  }

  disconnect(): Promise<void> {
    return this.native.disconnect();
  }

  send(batch: TopicRecords[]): Promise<PartitionAck[]> {
    return this.native.sendBatch({ acks: -1, compression: this.compression, topicMessages: batch });
  }
}

class KafkajsConsumer implements DriverConsumer {
  constructor(
    private readonly native: Consumer,
    private readonly partitionsConcurrency: number,
  ) {}

  connect(): Promise<void> {
    return this.native.connect();
  }

  disconnect(): Promise<void> {
    return this.native.disconnect();
  }

  subscribe(subscription: { topics: string[]; fromBeginning: boolean }): Promise<void> {
    return this.native.subscribe(subscription);
  }

  run(eachBatch: (context: BatchContext) => Promise<void>): Promise<void> {
    // kafkajs's payload is a BatchContext as it is.
    return this.native.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: this.partitionsConcurrency, eachBatch });
  }

  onGroupJoin(listener: (join: GroupJoin) => void): () => void {
    return this.native.on(this.native.events.GROUP_JOIN, ({ payload }) => listener({ groupId: payload.groupId, memberId: payload.memberId, assignment: payload.memberAssignment }));
  }

  onRebalancing(listener: () => void): () => void {
    return this.native.on(this.native.events.REBALANCING, () => listener());
  }
}

class KafkajsAdmin implements DriverAdmin {
  constructor(private readonly native: Admin) {}

  connect(): Promise<void> {
    return this.native.connect();
  }

  disconnect(): Promise<void> {
    return this.native.disconnect();
  }

  async createTopics(topics: TopicSpec[]): Promise<void> {
    await this.native.createTopics({ topics, waitForLeaders: true });
  }

  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const metadata = await this.native.fetchTopicMetadata({ topics });
    return new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  }

}
