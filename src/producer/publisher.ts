import { CompressionTypes, Partitioners, type Kafka, type Message, type PartitionMetadata, type Producer } from 'kafkajs';
import { PublishError, describe } from '../errors';
import { getEventDefinition } from '../events/catalog';
import type { EventMap, EventType } from '../events/generated';
import { validateEvent } from '../events/validate';
import { DEFAULT_TOPICS, type TopicNames } from '../kafka/topics';
import { childTraceparent } from '../observability/trace-context';
import { frame, type EventRegistry } from '../registry/event-registry';

export interface PublisherOptions {
  kafka: Kafka;
  registry: EventRegistry;
  topics?: TopicNames;
  /** How long a publish waits for others to share its request. Default 2 ms. */
  lingerMs?: number;
  /** Flush as soon as this many events are waiting. Default 500. */
  maxBatchSize?: number;
  compression?: 'none' | 'gzip';
}

export interface PublishOptions {
  /** W3C traceparent of the caller's span; the event is published as its child. */
  traceparent?: string;
  headers?: Record<string, string>;
}

export interface PublishResult {
  eventId: string;
  topic: string;
  partition: number;
  offset: string;
}

interface Pending {
  topic: string;
  partition: number;
  message: Message;
  eventId: string;
  resolve: (result: PublishResult) => void;
  reject: (error: unknown) => void;
}

export const EVENT_TYPE_HEADER = 'tidings-event-type';
export const EVENT_ID_HEADER = 'tidings-event-id';

/** The headers every Tidings event carries, whether published directly or through the outbox. */
export function eventHeaders(type: EventType, eventId: string, options: PublishOptions = {}): Record<string, string> {
  return {
    ...options.headers,
    traceparent: childTraceparent(options.traceparent),
    [EVENT_TYPE_HEADER]: type,
    [EVENT_ID_HEADER]: eventId,
  };
}

/** The topic an event type is published to. */
export function topicForEvent(topics: TopicNames, type: EventType): string {
  return topics[getEventDefinition(type).domain];
}

/**
 * The producer SDK. `publish` validates an event against its schema and business rules,
 * encodes it in the Confluent wire format and sends it keyed by `user_id` through an
 * idempotent producer with acks=all. Concurrent publishes share requests (a few ms linger),
 * which is how the SDK keeps up with raw kafkajs batching.
 */
export class Publisher {
  private readonly producer: Producer;
  private readonly topics: TopicNames;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly partitions = new Map<string, Promise<PartitionMetadata[]>>();
  private readonly resolvedPartitions = new Map<string, PartitionMetadata[]>();
  private readonly schemaIds = new Map<string, number>();
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight = new Set<Promise<void>>();
  private connected = false;

  constructor(private readonly options: PublisherOptions) {
    this.topics = options.topics ?? DEFAULT_TOPICS;
    // Java-compatible murmur2, so Java and Go producers put a user's events on the same partition.
    this.producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  /** Flushes what is waiting, then disconnects. Idempotent. */
  async disconnect(): Promise<void> {
    if (!this.connected) return;
    await this.flush();
    await this.producer.disconnect();
    this.connected = false;
  }

  topicFor(type: EventType): string {
    return topicForEvent(this.topics, type);
  }

  async publish<T extends EventType>(type: T, event: EventMap[T], options: PublishOptions = {}): Promise<PublishResult> {
    validateEvent(type, event);
    const topic = this.topicFor(type);
    // Once the schema id and partition count are known, encode and partition synchronously:
    // two awaits per event cost more than the Avro encoding itself.
    const cacheKey = `${topic}\u0000${type}`;
    let id = this.schemaIds.get(cacheKey);
    let metadata = this.resolvedPartitions.get(topic);
    if (id === undefined || !metadata) {
      [id, metadata] = await Promise.all([this.options.registry.schemaId(type, topic), this.partitionMetadata(topic)]);
      this.schemaIds.set(cacheKey, id);
      this.resolvedPartitions.set(topic, metadata);
    }
    const value = frame(id, getEventDefinition(type).avroType, event);
    const partition = this.partitioner({ topic, partitionMetadata: metadata, message: { key: event.user_id, value: null } });
    const eventId = event.event_id;
    const message: Message = {
      key: event.user_id,
      value,
      partition,
      timestamp: String(event.occurred_at),
      headers: eventHeaders(type, eventId, options),
    };
    return new Promise<PublishResult>((resolve, reject) => {
      this.queue.push({ topic, partition, message, eventId, resolve, reject });
      if (this.queue.length >= (this.options.maxBatchSize ?? 500)) this.flushSoon(0);
      else this.flushSoon(this.options.lingerMs ?? 2);
    });
  }

  /** Sends everything waiting now and resolves when the broker has acknowledged it. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length > 0) this.track(this.send(this.queue.splice(0)));
    await Promise.all([...this.inflight]);
  }

  private flushSoon(delayMs: number): void {
    if (delayMs === 0) {
      void this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async send(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      const list = byTopic.get(p.topic) ?? [];
      list.push(p.message);
      byTopic.set(p.topic, list);
    }
    try {
      const metadata = await this.producer.sendBatch({
        acks: -1,
        compression: this.options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      // Offsets within one partition follow send order from the partition's base offset.
      const next = new Map<string, bigint>();
      for (const m of metadata) next.set(`${m.topicName}:${m.partition}`, BigInt(m.baseOffset ?? '-1'));
      for (const p of batch) {
        const key = `${p.topic}:${p.partition}`;
        const offset = next.get(key) ?? -1n;
        next.set(key, offset + 1n);
        p.resolve({ eventId: p.eventId, topic: p.topic, partition: p.partition, offset: offset.toString() });
      }
    } catch (error) {
      if (isStaleMetadata(error)) {
        this.partitions.clear();
        this.resolvedPartitions.clear();
      }
      const failure = new PublishError(`publishing ${batch.length} event(s) failed: ${describe(error)}`, error);
      for (const p of batch) p.reject(failure);
    }
  }

  private partitionMetadata(topic: string): Promise<PartitionMetadata[]> {
    let metadata = this.partitions.get(topic);
    if (!metadata) {
      metadata = this.fetchPartitions(topic);
      metadata.catch(() => this.partitions.delete(topic));
      this.partitions.set(topic, metadata);
    }
    return metadata;
  }

  private async fetchPartitions(topic: string): Promise<PartitionMetadata[]> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const found = topics.find((t) => t.name === topic);
      if (!found || found.partitions.length === 0) throw new PublishError(`topic "${topic}" does not exist; run \`tidings topics create\``);
      return found.partitions;
    } catch (error) {
      if (error instanceof PublishError) throw error;
      throw new PublishError(`reading metadata of topic "${topic}" failed: ${describe(error)}`, error);
    } finally {
      await admin.disconnect();
    }
  }
}

function isStaleMetadata(error: unknown): boolean {
  const type = (error as { type?: string }).type;
  return type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'NOT_LEADER_FOR_PARTITION';
}
