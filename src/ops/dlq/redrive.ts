import type { Kafka, Message, Producer } from 'kafkajs';
import { routeProducer } from '../../consumer/consumer-runtime';
import { FAILURE_HEADERS } from '../../consumer/failure-headers';
import type { InboundRecord } from '../../consumer/messages';
import type { Db } from '../../db/database';
import { ConfigError } from '../../errors';
import { RetryAbortedError } from '../../retry/retry';
import { recordOperatorAction } from '../operator-actions';
import { Pacer } from '../pacer';
import { DeadLetterNotFoundError, DeadLetterStateError, noSuchDeadLetter, recordGone, refusal } from './dead-letter-errors';
import { changeState, DEAD_LETTER_STATES, findDeadLetter, findDeadLetters, matchingIds, recordAddressOf, type DeadLetter, type DeadLetterFilter } from './dead-letter-store';
import { firstRetryTier } from './dlq-topics';
import { addressKey, readRecords } from './record-reader';
import { reopenFailedDeliveries } from './reopen-deliveries';

/** Added to a redriven record: which dead letter it was, and when it was sent back. */
export const REDRIVE_HEADERS = { from: 'tidings-redriven-from', at: 'tidings-redriven-at' } as const;

export interface RedriveOptions {
  /** Who redrives (recorded with the action). */
  actor: string;
  /** Send it to the original topic named in its headers instead of its group's first retry tier. */
  toOrigin?: boolean;
  /** Redrive it even if it was redriven or discarded before. */
  again?: boolean;
  reason?: string;
}

export interface Redriven {
  id: string;
  /** The topic it was sent to. */
  to: string;
  partition: number;
  offset: string;
  /** Deliveries of its event that had failed for good and were set back to pending. */
  reopenedDeliveries: number;
}

export interface BulkRedriveOptions extends RedriveOptions {
  /** At most this many records per second. Default: as fast as they go. */
  ratePerSecond?: number;
  /** Aborting stops before the next record (the ones done stay done). */
  signal?: AbortSignal;
  /** Called once the matching dead letters are known, before the first is sent. */
  onStart?: (total: number) => void;
  /** Called after each record, redriven or skipped. */
  onRecord?: () => void;
}

export interface BulkRedriveResult {
  matched: number;
  redriven: Redriven[];
  /** Changed by someone else meanwhile, or no longer in Kafka. */
  skipped: Array<{ id: string; reason: string }>;
  /** The signal ended it before every match was done. */
  stopped: boolean;
}

/** Records read from Kafka per throwaway consumer in a bulk redrive. */
const READ_CHUNK = 500;

/**
 * Sends dead letters back for another attempt: by default to their group's first retry tier
 * (due at once, read by that group only), or to the original topic (every group reading it
 * sees it again; their inboxes skip what they already applied). Key, value and headers are
 * kept, and the event's failed deliveries are reopened. The state change and the operator
 * action commit only once the broker has acknowledged the record: a failed send leaves the
 * dead letter parked, and a record is never redriven twice by accident (the state change is
 * conditional and holds the row until then, so a concurrent second redrive waits and is refused).
 */
export class DeadLetterRedriver {
  private producer: Producer | undefined;
  private topics: Set<string> | undefined;

  constructor(private readonly deps: { db: Db; kafka: Kafka }) {}

  async redrive(id: string, options: RedriveOptions): Promise<Redriven> {
    const deadLetter = await findDeadLetter(this.deps.db, id);
    if (!deadLetter) throw noSuchDeadLetter(id);
    // Refused before reading Kafka; checked again, under the row lock, when it changes.
    if (deadLetter.state !== 'parked' && !options.again) throw refusal(id, deadLetter, 'redrive');
    const address = recordAddressOf(deadLetter);
    const record = (await readRecords(this.deps.kafka, [address])).get(addressKey(address));
    if (!record) throw recordGone(id, addressKey(address));
    return this.send(deadLetter, record, options);
  }

  /** The ids a bulk redrive of `filter` works through, oldest first: state `parked` unless the filter names another. */
  async matching(filter: DeadLetterFilter): Promise<string[]> {
    return matchingIds(this.deps.db, { ...filter, state: filter.state ?? 'parked' });
  }

  /** Redrives every dead letter `matching(filter)` gives. */
  async redriveMatching(filter: DeadLetterFilter, options: BulkRedriveOptions): Promise<BulkRedriveResult> {
    const ids = await this.matching(filter);
    options.onStart?.(ids.length);
    const pacer = new Pacer(options.ratePerSecond);
    const result: BulkRedriveResult = { matched: ids.length, redriven: [], skipped: [], stopped: false };
    for (let start = 0; start < ids.length; start += READ_CHUNK) {
      const rows = await findDeadLetters(this.deps.db, ids.slice(start, start + READ_CHUNK));
      const records = await readRecords(this.deps.kafka, rows.map(recordAddressOf));
      for (const deadLetter of rows) {
        try {
          if (options.signal?.aborted) throw new RetryAbortedError('redrive');
          await pacer.take(1, options.signal);
        } catch (error) {
          if (!(error instanceof RetryAbortedError)) throw error;
          result.stopped = true;
          return result;
        }
        const record = records.get(addressKey(recordAddressOf(deadLetter)));
        try {
          if (!record) throw recordGone(deadLetter.id, addressKey(recordAddressOf(deadLetter)));
          result.redriven.push(await this.send(deadLetter, record, options));
        } catch (error) {
          if (!(error instanceof DeadLetterStateError || error instanceof DeadLetterNotFoundError)) throw error;
          result.skipped.push({ id: deadLetter.id, reason: error.message });
        }
        options.onRecord?.();
      }
    }
    return result;
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
    this.producer = undefined;
  }

  private async send(deadLetter: DeadLetter, record: InboundRecord, options: RedriveOptions): Promise<Redriven> {
    const { topic, message } = await this.target(deadLetter, record, options.toOrigin === true);
    const producer = await this.connectedProducer();
    return this.deps.db.transaction(async (trx) => {
      const moved = await changeState(trx, deadLetter.id, {
        from: options.again ? DEAD_LETTER_STATES : ['parked'],
        to: 'redriven',
        by: options.actor,
        reason: options.reason,
        redrivenTo: topic,
      });
      if (!moved) throw refusal(deadLetter.id, await findDeadLetter(trx, deadLetter.id), 'redrive');
      // Committed before the record goes out (not in this transaction): its group may read it at
      // once and must find them pending. Reopened rows no record drives stay pending, harmlessly.
      const reopenedDeliveries = await reopenFailedDeliveries(this.deps.db, deadLetter.eventId);
      const [sent] = await producer.send({ topic, acks: -1, messages: [message] });
      const redriven: Redriven = { id: deadLetter.id, to: topic, partition: sent?.partition ?? -1, offset: sent?.baseOffset ?? '', reopenedDeliveries };
      await recordOperatorAction(trx, {
        actor: options.actor,
        action: 'dlq.redrive',
        target: deadLetter.id,
        reason: options.reason,
        details: { record: addressKey(recordAddressOf(deadLetter)), eventId: deadLetter.eventId, to: topic, partition: redriven.partition, offset: redriven.offset, again: options.again === true, reopenedDeliveries },
      });
      return redriven;
    });
  }

  /** Where the record goes and as what: the same key, value and headers, plus where it came from. */
  private async target(deadLetter: DeadLetter, record: InboundRecord, toOrigin: boolean): Promise<{ topic: string; message: Message }> {
    const now = Date.now();
    const redrive = { [REDRIVE_HEADERS.from]: addressKey(recordAddressOf(deadLetter)), [REDRIVE_HEADERS.at]: new Date(now).toISOString() };
    const source = deadLetter.sourceTopic;
    if (source === null) throw new ConfigError(`dead letter ${deadLetter.id} has no ${FAILURE_HEADERS.originalTopic} header: nowhere to redrive it to`);
    if (toOrigin) {
      // A fresh record on its source topic: the failure headers stay behind, the producer's go along.
      const failureHeaderNames = new Set<string>(Object.values(FAILURE_HEADERS));
      const headers = Object.fromEntries(Object.entries(record.headers).filter(([name]) => !failureHeaderNames.has(name)));
      await this.assertTopic(source, `its original topic ${source} does not exist`);
      return { topic: source, message: { key: record.key, value: record.value, headers: { ...headers, ...redrive }, ...(deadLetter.sourcePartition === null ? {} : { partition: deadLetter.sourcePartition }) } };
    }
    const tier = firstRetryTier(deadLetter.dlqTopic, source);
    if (tier === undefined) throw new ConfigError(`dead letter ${deadLetter.id}: ${deadLetter.dlqTopic} is not a DLQ topic of ${source}; use --to-origin`);
    await this.assertTopic(tier, `its group's first retry tier ${tier} does not exist (start the group once to create it, or use --to-origin)`);
    // Due at once; the attempts so far stay, so failing again sends it back to the DLQ.
    return { topic: tier, message: { key: record.key, value: record.value, headers: { ...record.headers, [FAILURE_HEADERS.dueAt]: String(now), ...redrive } } };
  }

  private async assertTopic(topic: string, problem: string): Promise<void> {
    if (this.topics?.has(topic)) return;
    const admin = this.deps.kafka.admin();
    await admin.connect();
    try {
      this.topics = new Set(await admin.listTopics());
    } finally {
      await admin.disconnect();
    }
    if (!this.topics.has(topic)) throw new ConfigError(problem);
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = routeProducer(this.deps.kafka);
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }
}
