import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Db, Trx } from '../db/database';
import { MalformedMessageError } from '../errors';
import type { EventType } from '../events/generated';
import { createLogger, type Logger } from '../observability/logger';
import type { EventRegistry } from '../registry/event-registry';
import { toInboundRecord, type EventRecord, type InboundRecord } from './messages';

/**
 * What a consumer group does with events. `apply` runs inside the PostgreSQL transaction
 * that also records the events in the inbox, and sees only events this group has not
 * processed before. `afterCommit` runs once that transaction has committed and before the
 * offsets are committed, with every event of the chunk (new or redelivered): it performs
 * side effects guarded by their own ledger, such as sending email.
 */
export interface EventHandler {
  apply(events: EventRecord[], trx: Trx): Promise<void>;
  afterCommit?(events: EventRecord[]): Promise<void>;
}

export interface ConsumerRuntimeOptions {
  kafka: Kafka;
  db: Db;
  registry: EventRegistry;
  groupId: string;
  topics: string[];
  handler: EventHandler;
  /** Events per database transaction. Default 500. */
  chunkSize?: number;
  /** Start a new group at the beginning of the topics. Default true: no event is skipped. */
  fromBeginning?: boolean;
  logger?: Logger;
}

export interface ConsumerStats {
  processed: number;
  duplicates: number;
  malformed: number;
  batches: number;
}

export class ConsumerRuntime {
  readonly stats: ConsumerStats = { processed: 0, duplicates: 0, malformed: 0, batches: 0 };
  private readonly consumer: Consumer;
  private readonly logger: Logger;
  private running = false;

  constructor(private readonly options: ConsumerRuntimeOptions) {
    this.logger = options.logger ?? createLogger(`consumer:${options.groupId}`);
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 1024 * 1024,
    });
  }

  get groupId(): string {
    return this.options.groupId;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Resolves once the consumer has joined its group and been assigned partitions. */
  async waitForAssignment(timeoutMs = 30_000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.groupId} not assigned after ${timeoutMs} ms`)), timeoutMs);
      const remove = this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
        clearTimeout(timer);
        remove();
        resolve();
      });
    });
  }

  /** Finishes the chunk in progress, commits its offsets and leaves the group. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
  }

  private async onBatch({ batch, heartbeat, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const chunkSize = this.options.chunkSize ?? 500;
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      if (!isRunning() || isStale()) return;
      const slice = batch.messages.slice(start, start + chunkSize);
      const records = slice.map((m) => toInboundRecord(batch.topic, batch.partition, m));
      await this.processChunk(records);
      const last = slice[slice.length - 1];
      if (!last) continue;
      resolveOffset(last.offset);
      // Offsets are committed only after the database transaction has committed.
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }] }],
      });
      await heartbeat();
    }
  }

  private async processChunk(records: InboundRecord[]): Promise<void> {
    this.stats.batches++;
    const events: EventRecord[] = [];
    for (const record of records) {
      const decoded = await this.decode(record);
      if (decoded) events.push(decoded);
    }
    if (events.length === 0) return;
    const fresh = await this.options.db.transaction(async (trx) => {
      const inserted = await this.recordInInbox(events, trx);
      const newEvents = events.filter((e) => inserted.has(e.eventId));
      if (newEvents.length > 0) await this.options.handler.apply(newEvents, trx);
      return newEvents;
    });
    this.stats.processed += fresh.length;
    this.stats.duplicates += events.length - fresh.length;
    if (this.options.handler.afterCommit) await this.options.handler.afterCommit(events);
  }

  /** Inserts inbox rows; returns the event ids that were new to this group. */
  private async recordInInbox(events: EventRecord[], trx: Trx): Promise<Set<string>> {
    const unique = new Map<string, EventRecord>();
    for (const e of events) if (!unique.has(e.eventId)) unique.set(e.eventId, e);
    const rows = await trx('inbox')
      .insert(
        [...unique.values()].map((e) => ({
          consumer_group: this.options.groupId,
          event_id: e.eventId,
          event_type: e.type,
          topic: e.topic,
          partition: e.partition,
          offset: e.offset,
        })),
      )
      .onConflict(['consumer_group', 'event_id'])
      .ignore()
      .returning('event_id');
    return new Set(rows.map((r: { event_id: string }) => r.event_id));
  }

  private async decode(record: InboundRecord): Promise<EventRecord | undefined> {
    try {
      const decoded = await this.options.registry.decode(record.value);
      const eventId = decoded.payload.event_id;
      if (typeof eventId !== 'string') throw new MalformedMessageError('decoded event has no event_id');
      return { ...record, type: decoded.definition.type as EventType, eventId, schemaId: decoded.schemaId, payload: decoded.payload };
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) throw error;
      this.stats.malformed++;
      this.logger.warn(
        { topic: record.topic, partition: record.partition, offset: record.offset, code: error.code, reason: error.message },
        'skipping malformed message',
      );
      return undefined;
    }
  }
}
