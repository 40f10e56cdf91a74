import type { Kafka } from 'kafkajs';
import type { Type } from 'avsc';
import { z } from 'zod';
import { PublishError, describe } from '../errors';
import { getEventDefinition } from '../events/catalog';
import type { EventMap, EventType } from '../events/generated';
import { validateEvent } from '../events/validate';
import type { TopicNames } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/logger';
import { childTraceparent } from '../observability/trace-context';
import { activeTraceparent, endSendSpanWhenSettled, startSendSpan, traceparentOf, tracingEnabled } from '../observability/tracing';
import type { EventRegistry } from '../registry/event-registry';
import { frame } from '../registry/wire-format';
import { isRetriableKafkaError, isUnknownTopic, sendIsolatingRefusals } from '../kafka/broker-errors';
import type { DriverProducer, KafkaDriver, PartitionAck, ProduceRecord, TopicRecords } from '../kafka/driver';
import { kafkajsDriver } from '../kafka/kafkajs-driver';
import { MAX_TIMER_MS, parseOptions, positiveInt } from '../config/options';
import { metadataMaxAgeSchema, topicNamesSchema } from './options';
import type { DataKeyStore } from '../crypto/data-key-store';
import { EventSealer, type SealedEvent } from './event-sealer';

export { partitionForKey } from './partitioner';

export interface PublisherOptions {
  kafka: Kafka;
  /** The Kafka client the events go through (src/kafka/driver.ts). Default: kafkajs on `kafka`. */
  driver?: KafkaDriver;
  registry: EventRegistry;
  /** Topic names per domain. Default `auth.events` and `payment.events`. */
  topics?: TopicNames;
  /** How long a publish waits for others to share its request. Default 2 ms. */
  lingerMs?: number;
  /** Flush as soon as this many events are waiting. Default 500. */
  maxBatchSize?: number;
  /**
   * Publishes accepted and not yet acknowledged by the broker, at most. A publish beyond it
   * waits for room (backpressure) instead of growing memory. Default 10,000.
   */
  maxQueuedEvents?: number;
  /** Partition counts and leaders are re-read at least this often, so added partitions are followed. Default 10 s. */
  metadataMaxAgeMs?: number;
  compression?: 'none' | 'gzip';
  logger?: Logger;
  /**
   * Users' data keys: personal fields (`"tidings.personal": true`) are sealed with the user's
   * key before encoding, and the record carries the key id in `tidings-key-id`. Default: none,
   * fields are sent as they are. `Platform.createPublisher` passes `Platform.dataKeys`.
   */
  dataKeys?: DataKeyStore;
}

const settingsSchema = z.object({
  topics: topicNamesSchema,
  lingerMs: z.number().int().min(0).max(MAX_TIMER_MS).default(2),
  maxBatchSize: positiveInt.default(500),
  maxQueuedEvents: positiveInt.default(10_000),
  metadataMaxAgeMs: metadataMaxAgeSchema,
  compression: z.enum(['none', 'gzip']).default('none'),
});
type Settings = z.infer<typeof settingsSchema>;

export interface PublishOptions {
  /**
   * W3C traceparent of the caller's span; the event is published as its child. Default: the
   * active OpenTelemetry span, when the process registered a tracer provider.
   */
  traceparent?: string;
  headers?: Record<string, string>;
}

export interface PublishResult {
  eventId: string;
  topic: string;
  partition: number;
  offset: string;
}

/** Everything a publish of one event type needs once the registry answered. */
interface Route {
  topic: string;
  avroType: Type;
  schemaId: number;
}

/** An event on its way: the record itself, plus what its caller waits for. */
interface Pending extends ProduceRecord {
  topic: string;
  eventId: string;
  /** Set by the partitioner, with the metadata the producer sent with. */
  assigned: number;
  resolve: (result: PublishResult) => void;
  reject: (error: unknown) => void;
}

export const EVENT_TYPE_HEADER = 'tidings-event-type';
export const EVENT_ID_HEADER = 'tidings-event-id';
/** The id of the data key the record's personal fields are sealed with (docs/envelope-encryption.md); absent when none is. */
export const KEY_ID_HEADER = 'tidings-key-id';

/**
 * The headers every Tidings event carries, whether published directly or through the outbox.
 * `traceparent`: the record's own (its send span's); default a new child id of
 * `options.traceparent` (tracing off); null for none (an outbox row without a caller's trace).
 */
export function eventHeaders(type: EventType, eventId: string, options: PublishOptions = {}, traceparent?: string | null): Record<string, string> {
  if (traceparent === null) return { ...options.headers, [EVENT_TYPE_HEADER]: type, [EVENT_ID_HEADER]: eventId };
  traceparent ??= childTraceparent(options.traceparent);
  // Same keys in the same order either way; skipping the spread matters at 10^5 events/s.
  if (options.headers === undefined) return { traceparent, [EVENT_TYPE_HEADER]: type, [EVENT_ID_HEADER]: eventId };
  return { ...options.headers, traceparent, [EVENT_TYPE_HEADER]: type, [EVENT_ID_HEADER]: eventId };
}

/**
 * The trace context an event is published in: `options.traceparent`, else (when tracing is
 * on) the caller's active span. The outbox stores it at enqueue, for the relay's send span.
 */
export function callerTraceparent(options: PublishOptions): string | undefined {
  return options.traceparent ?? (tracingEnabled() ? activeTraceparent() : undefined);
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
 *
 * Partitions are chosen inside the producer from its own metadata, refreshed at least every
 * `metadataMaxAgeMs`, with Java's murmur2: added partitions are followed within that time,
 * and the outbox relay (same producer set-up) agrees on every key.
 */
export class Publisher {
  private readonly settings: Settings;
  private readonly logger: Logger;
  private readonly driver: KafkaDriver;
  private producer: DriverProducer;
  /** A request failed: the idempotent producer's sequence numbers are in doubt, so the next request uses a new producer. */
  private producerInDoubt = false;
  private readonly routes = new Map<string, Route>();
  /** A first publish's registry look-up in progress; later publishes queue behind it. */
  private lookup: Promise<void> | undefined;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  /**
   * One request at a time: two sendBatch calls in flight can overtake each other inside
   * kafkajs (one waits for metadata, the other does not), which reorders a user's events.
   * The idempotent producer sends one request per broker at a time anyway.
   */
  private inflight: Promise<void> | undefined;
  /** Publishes holding a place: accepted and not yet acknowledged or failed. */
  private unsettled = 0;
  /** Publishes waiting for a place, first come first served (a head index: shift() is O(n)). */
  private waiting: Array<() => void> = [];
  private waitingHead = 0;
  private connected = false;
  private readonly sealer: EventSealer | undefined;

  constructor(private readonly options: PublisherOptions) {
    const { kafka, driver, registry: _registry, logger, dataKeys, ...rest } = options;
    this.settings = parseOptions('publisher', settingsSchema, rest);
    this.sealer = dataKeys && new EventSealer(dataKeys);
    this.logger = logger ?? createLogger('publisher');
    this.driver = driver ?? kafkajsDriver(kafka);
    this.producer = this.newProducer();
  }

  private newProducer(): DriverProducer {
    return this.driver.producer({
      partitioner: 'java',
      metadataMaxAgeMs: this.settings.metadataMaxAgeMs,
      compression: this.settings.compression,
      onPartitioned: (record, partition) => {
        (record as Pending).assigned = partition;
      },
    });
  }

  /** Publishes accepted and not yet settled (at most `maxQueuedEvents`), and those waiting for room. */
  get backlog(): { queued: number; waiting: number } {
    return { queued: this.unsettled, waiting: this.waiting.length - this.waitingHead };
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
    return topicForEvent(this.settings.topics, type);
  }

  publish<T extends EventType>(type: T, event: EventMap[T], options: PublishOptions = {}): Promise<PublishResult> {
    // Not async: with room and a known route the whole publish runs synchronously, and an
    // async wrapper would add a promise and two ticks per event.
    try {
      validateEvent(type, event);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.unsettled < this.settings.maxQueuedEvents && this.waitingHead === this.waiting.length) {
      this.unsettled++;
      return this.sealThenAccept(type, event, options);
    }
    // Full: wait for a place, behind earlier waiters (so a user's events keep their order).
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.sealThenAccept(type, event, options));
  }

  /** Seals the personal fields (after validation, before encoding), then goes on; gives the place back if sealing fails. */
  private sealThenAccept<T extends EventType>(type: T, event: EventMap[T], options: PublishOptions): Promise<PublishResult> {
    if (!this.sealer) return this.accept(type, event, options);
    let sealed: SealedEvent<T> | Promise<SealedEvent<T>>;
    try {
      sealed = this.sealer.seal(type, event);
    } catch (error) {
      this.release(1);
      return Promise.reject(error);
    }
    if (!(sealed instanceof Promise)) return this.accept(type, sealed.event, options, sealed.keyId);
    return sealed.then(
      (s) => this.accept(type, s.event, options, s.keyId),
      (error: unknown) => {
        this.release(1);
        throw error;
      },
    );
  }

  /** Sends everything accepted so far and resolves when the broker has answered for all of it. */
  async flush(): Promise<void> {
    while (this.unsettled > 0 || this.backlog.waiting > 0) {
      this.sendQueued();
      // Publishes still waiting for the registry (first of a type) join the queue a little later.
      await (this.inflight ?? new Promise((resolve) => setTimeout(resolve, Math.max(1, this.settings.lingerMs))));
    }
  }

  /** Holds a place (taken by the caller); gives it back if the event never reaches a batch. */
  private accept<T extends EventType>(type: T, event: EventMap[T], options: PublishOptions, keyId?: string): Promise<PublishResult> {
    // Behind a registry look-up still under way, so a known type cannot overtake a new one.
    if (this.lookup) return this.lookup.then(() => this.accept(type, event, options, keyId));
    try {
      const route = this.routes.get(type);
      if (route !== undefined) return this.enqueue(route, type, event, options, keyId);
    } catch (error) {
      this.release(1);
      return Promise.reject(error);
    }
    return this.publishFirst(type, event, options, keyId);
  }

  /** First publish of a type: ask the registry once. */
  private async publishFirst<T extends EventType>(type: T, event: EventMap[T], options: PublishOptions, keyId: string | undefined): Promise<PublishResult> {
    const topic = this.topicFor(type);
    const schemaId = this.options.registry.schemaId(type, topic);
    // Settles after this publish has continued (its reaction comes first), failed or not.
    const lookup = schemaId.then(noop, noop);
    this.lookup = lookup;
    let route: Route;
    try {
      route = { topic, avroType: getEventDefinition(type).avroType, schemaId: await schemaId };
      this.routes.set(type, route);
    } catch (error) {
      this.release(1);
      throw error;
    } finally {
      if (this.lookup === lookup) this.lookup = undefined;
    }
    return this.enqueue(route, type, event, options, keyId);
  }

  private enqueue(route: Route, type: EventType, event: EventMap[EventType], options: PublishOptions, keyId: string | undefined): Promise<PublishResult> {
    const eventId = event.event_id;
    const value = frame(route.schemaId, route.avroType, event);
    // Undefined while tracing is off: then the traceparent is a new id, no span object is made.
    const span = startSendSpan(route.topic, eventId, options.traceparent, true);
    const headers = eventHeaders(type, eventId, options, span && traceparentOf(span));
    if (keyId !== undefined) headers[KEY_ID_HEADER] = keyId;
    const result = new Promise<PublishResult>((resolve, reject) => {
      this.queue.push({
        key: event.user_id,
        value,
        timestamp: String(event.occurred_at),
        headers,
        topic: route.topic,
        eventId,
        assigned: -1,
        resolve,
        reject,
      });
      if (this.queue.length >= this.settings.maxBatchSize) this.sendQueued();
      else this.timer ??= setTimeout(() => this.sendQueued(), this.settings.lingerMs);
    });
    if (span) endSendSpanWhenSettled(span, result);
    return result;
  }

  private sendQueued(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // While a request is in flight the queue grows (up to maxQueuedEvents); it goes next.
    if (this.inflight || this.queue.length === 0) return;
    const batch = this.queue.length <= this.settings.maxBatchSize ? this.queue : this.queue.slice(0, this.settings.maxBatchSize);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.inflight = this.send(batch).finally(() => {
      this.inflight = undefined;
      // What queued up meanwhile has waited at least the linger already.
      this.sendQueued();
    });
  }

  /**
   * Sends a batch; an event the broker refuses for good (too large, timestamp out of range)
   * fails alone, not retriable, and the rest of the batch is sent without it.
   */
  private async send(batch: Pending[]): Promise<void> {
    try {
      await sendIsolatingRefusals(
        batch,
        async (part) => this.unacknowledged(resolveOffsets(part, await this.sendRequest(byTopic(part)))),
        (p, error) => p.reject(this.failure(1, error)),
      );
    } catch (error) {
      const failure = this.failure(batch.length, error);
      // Events already acknowledged stay resolved: a settled promise ignores reject.
      for (const p of batch) p.reject(failure);
    }
    this.release(batch.length);
  }

  /**
   * Events of a partition the answer has no acknowledgement for: not published, so they fail
   * (retriable). kafkajs 2.2.4 answers so when a partition's leader dies during a request and
   * the new leader had already answered for its own partitions (tulios/kafkajs#1303); the
   * producer's sequence numbers are then in doubt too.
   */
  private unacknowledged(missed: Pending[]): void {
    if (missed.length === 0) return;
    this.producerInDoubt = true;
    const partitions = [...new Set(missed.map((p) => `${p.topic}/${p.assigned}`))].join(', ');
    const failure = this.failure(missed.length, new Error(`no acknowledgement for ${partitions} (their leader changed during the request)`));
    for (const p of missed) p.reject(failure);
  }

  private async sendRequest(topicMessages: TopicRecords[]): Promise<PartitionAck[]> {
    if (this.producerInDoubt) {
      // Requests go one at a time, so no other request uses the old producer.
      const old = this.producer;
      this.producer = this.newProducer();
      await old.disconnect().catch(() => undefined);
      await this.producer.connect();
      this.producerInDoubt = false;
    }
    try {
      return await this.producer.send(topicMessages);
    } catch (error) {
      this.producerInDoubt = true;
      throw error;
    }
  }

  private failure(events: number, error: unknown): PublishError {
    const missing = isUnknownTopic(error) ? ' (does the topic exist? `tidings topics create` creates it)' : '';
    const failure = new PublishError(`publishing ${events} event(s) failed: ${describe(error)}${missing}`, error, { retriable: isRetriableKafkaError(error) });
    this.logger.warn({ events, err: failure.message, retriable: failure.retriable }, 'publish failed');
    return failure;
  }

  /** Frees `count` places and hands them to the publishes waiting longest. */
  private release(count: number): void {
    this.unsettled -= count;
    while (this.waitingHead < this.waiting.length && this.unsettled < this.settings.maxQueuedEvents) {
      this.unsettled++;
      const admit = this.waiting[this.waitingHead]!;
      this.waiting[this.waitingHead++] = noop;
      admit();
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    } else if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
  }
}

function noop(): void {}

function byTopic(batch: Pending[]): TopicRecords[] {
  const topicMessages: TopicRecords[] = [];
  for (const p of batch) {
    let entry = topicMessages.find((t) => t.topic === p.topic);
    if (!entry) {
      entry = { topic: p.topic, messages: [] };
      topicMessages.push(entry);
    }
    entry.messages.push(p);
  }
  return topicMessages;
}

/**
 * Offsets within one partition follow send order from the partition's base offset. Plain
 * numbers are exact below 2^53, which no partition reaches; BigInt per event was measurable.
 * Returns the events of partitions the answer does not acknowledge, unsettled.
 */
function resolveOffsets(batch: Pending[], metadata: PartitionAck[]): Pending[] {
  const next = new Map<string, number[]>();
  const offsetsOf = (topic: string): number[] => {
    let byPartition = next.get(topic);
    if (!byPartition) {
      byPartition = [];
      next.set(topic, byPartition);
    }
    return byPartition;
  };
  for (const m of metadata) offsetsOf(m.topicName)[m.partition] = Number(m.baseOffset ?? '-1');
  const missed: Pending[] = [];
  for (const p of batch) {
    const byPartition = offsetsOf(p.topic);
    const offset = byPartition[p.assigned];
    if (offset === undefined) {
      missed.push(p);
      continue;
    }
    byPartition[p.assigned] = offset + 1;
    p.resolve({ eventId: p.eventId, topic: p.topic, partition: p.assigned, offset: String(offset) });
  }
  return missed;
}
