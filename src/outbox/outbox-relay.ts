import type { Span } from '@opentelemetry/api';
import type { Kafka, Message, Producer } from 'kafkajs';
import { z } from 'zod';
import type { Db } from '../db/database';
import { ConfigError, PublishError, TidingsError, describe } from '../errors';
import { faultPoint } from '../observability/fault-injection';
import { createLogger, type Logger } from '../observability/logger';
import { childTraceparent } from '../observability/trace-context';
import { failSpan, startSendSpan, traceparentOf } from '../observability/tracing';
import { isRetriableKafkaError, isUnknownTopic, kafkaErrorType, sendIsolatingRefusals } from '../kafka/broker-errors';
import { createEventProducer } from '../producer/event-producer';
import { durationMs, parseOptions, positiveInt } from '../config/options';
import { metadataMaxAgeSchema } from '../producer/options';
import type { EventRegistry } from '../registry/event-registry';
import { backoffDelay } from '../retry/backoff';
import { RetryAbortedError, retry, sleep } from '../retry/retry';
import { OUTBOX_TABLE, type OutboxRow } from './outbox';
import { RelaySession } from './relay-session';
import { RowEncoder, type Refusal } from './row-encoding';

export interface OutboxRelayOptions {
  kafka: Kafka;
  /** Reads and marks the outbox of its search_path's schema (Platform.db: TIDINGS_DB_SCHEMA). */
  db: Db;
  /** For the relay's own connection (LISTEN and bucket locks), apart from the `db` pool. */
  databaseUrl: string;
  /** Looks up the schema ids of rows `Outbox.enqueue` wrote (it stores them without one). */
  registry: EventRegistry;
  /** Rows read and published per batch. Default 500. */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Key buckets shared among the relays; every relay of a schema must use the same number. Default 16. */
  buckets?: number;
  /** Backoff while the broker, the registry or PostgreSQL is unreachable. Default 200 ms doubling to 30 s, with jitter. */
  outageBackoff?: { initialMs: number; maxMs: number };
  /** Partition counts and leaders are re-read at least this often, so added partitions are followed. Default 10 s. */
  metadataMaxAgeMs?: number;
  logger?: Logger;
}

export interface OutboxRelayStats {
  /** Rows published and marked (a row published again after a crash counts again). */
  published: number;
  batches: number;
  /** Failed attempts (broker, registry or database); each is retried after a backoff. */
  failures: number;
  /** Rows set aside: refused for good by the broker, or their schema cannot be resolved (see `set_aside_*` in the table). */
  setAside: number;
  /** NOTIFY wake-ups received. */
  notifications: number;
  /** Reads that found committed rows waiting behind a transaction still in flight. */
  fenceWaits: number;
  /** Buckets this relay holds right now. */
  buckets: number[];
}

const settingsSchema = z.object({
  batchSize: positiveInt.default(500),
  pollIntervalMs: durationMs.default(1_000),
  buckets: positiveInt.max(1024).default(16),
  outageBackoff: z
    .object({ initialMs: durationMs, maxMs: durationMs })
    .refine((b) => b.maxMs >= b.initialMs, { message: 'must be at least initialMs', path: ['maxMs'] })
    .default({ initialMs: 200, maxMs: 30_000 }),
  metadataMaxAgeMs: metadataMaxAgeSchema,
});
type Settings = z.infer<typeof settingsSchema>;

const FIRST_FENCE_RETRY_MS = 10;

interface Candidate extends OutboxRow {
  /** The row's transaction and every one before it have ended (see the fence below). */
  ready: boolean;
}

/**
 * Publishes committed outbox rows to Kafka.
 *
 * Ownership: message keys are split into buckets (hashtext(key) mod `buckets`); a relay
 * publishes only the buckets whose advisory locks it holds (RelaySession), so any number of
 * relays can run and one bucket, hence one key, is never published by two at once.
 *
 * Order guaranteed, per key: rows are published in (xid, id) order — the order in which
 * their transactions were assigned ids (at their first write), then enqueue order within a
 * transaction — and a row is published only when its xid is below the xmin of the current
 * snapshot, i.e. when every transaction that could still commit a row ahead of it in that
 * order has ended. So no row of a transaction still in flight is ever overtaken. When one
 * transaction for a key commits before the next one for that key starts, this is enqueue
 * order (and outbox id order). Plain id order cannot be promised for transactions that
 * overlap: ids are drawn at insert time, not at commit, so an open transaction may hold a
 * smaller id than a committed one while its xid is larger.
 *
 * The fence waits for every older transaction in the PostgreSQL cluster, so a long-running
 * transaction anywhere (even in another database) delays publishing; it never skips a row.
 *
 * Delivery is at least once: rows are marked published only after the broker acknowledged
 * them, so a relay that dies in between (or loses its bucket mid-batch) leaves them to be
 * published again; consumers deduplicate on event_id through their inbox.
 *
 * Nothing blocks work forever: a row the broker refuses for good (too large for the topic,
 * a timestamp out of its range, a topic that does not exist) or whose schema cannot be
 * resolved is set aside (`set_aside_at`, `set_aside_code`, `set_aside_reason`), counted in
 * `stats.setAside` and logged, and the rows behind it, the same key's included, go on. A
 * key's order is kept among the rows that are published; the set-aside row is the gap.
 *
 * Partitioning is the Publisher's (same producer set-up): Java's murmur2 over the producer's
 * metadata, re-read at least every `metadataMaxAgeMs`.
 */
export class OutboxRelay {
  private readonly settings: Settings;
  private readonly logger: Logger;
  private readonly encoder: RowEncoder;
  private readonly counters = { published: 0, batches: 0, failures: 0, setAside: 0, notifications: 0, fenceWaits: 0 };
  private session: RelaySession | undefined;
  private producer: Producer | undefined;
  private loop: Promise<void> | undefined;
  private ready: Promise<void> | undefined;
  /** Aborted by stop(): ends the outage backoff and the idle wait at once. */
  private stopping: AbortController | undefined;
  /** Aborted by a NOTIFY or a lost session: ends the idle wait (never an outage backoff). */
  private wake: AbortController | undefined;
  private notified = false;

  constructor(private readonly options: OutboxRelayOptions) {
    const { kafka: _kafka, db: _db, databaseUrl: _url, registry, logger, ...rest } = options;
    this.settings = parseOptions('outbox relay', settingsSchema, rest);
    this.logger = logger ?? createLogger('outbox-relay');
    this.encoder = new RowEncoder(registry);
  }

  get stats(): OutboxRelayStats {
    return { ...this.counters, buckets: this.session?.alive ? this.session.buckets : [] };
  }

  /**
   * Connects and starts publishing; resolves once the relay listens and has claimed its
   * buckets. Outages are retried with backoff; a misconfiguration rejects. Idempotent.
   */
  start(): Promise<void> {
    if (this.ready) return this.ready;
    const stopping = new AbortController();
    this.stopping = stopping;
    let started!: () => void;
    let failed!: (error: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.loop = this.run(stopping.signal, started, failed);
    return this.ready;
  }

  /** Finishes the batch in progress (an outage backoff ends at once), then disconnects, releasing the buckets. Idempotent. */
  async stop(): Promise<void> {
    this.stopping?.abort();
    await this.loop;
    this.loop = undefined;
    this.ready = undefined;
    await this.disconnect();
  }

  private async run(signal: AbortSignal, started: () => void, failed: (error: unknown) => void): Promise<void> {
    const { initialMs, maxMs } = this.settings.outageBackoff;
    const onRetry = (error: unknown, attempt: number, delayMs: number): void => {
      this.counters.failures++;
      this.logger.warn({ err: describe(error), attempt, delayMs }, 'outbox relay failed; retrying after a backoff');
    };
    try {
      // An outage is waited out; a misconfiguration (a non-retriable TidingsError) fails start().
      await retry(() => this.connect(), {
        what: 'starting the outbox relay',
        initialMs,
        maxMs,
        signal,
        onRetry,
        shouldRetry: (error) => !(error instanceof TidingsError && !error.retriable),
      });
    } catch (error) {
      await this.disconnect();
      // Stopped while waiting out an outage: start() resolves on a stopped relay, as if it had started.
      if (signal.aborted) started();
      else failed(error);
      return;
    }
    started();
    let fenceWaits = 0;
    while (!signal.aborted) {
      let batch: { full: boolean; fenced: boolean };
      try {
        batch = await retry(
          async () => {
            await this.connect();
            const published = await this.publishBatch();
            return published;
          },
          { what: 'publishing the outbox', initialMs, maxMs, signal, onRetry },
        );
      } catch (error) {
        // retry() gives up only when stopped.
        if (error instanceof RetryAbortedError) break;
        throw error;
      }
      if (batch.full) continue;
      if (batch.fenced) {
        // Committed rows wait behind an open transaction that may not touch the outbox
        // (so no NOTIFY will come): look again soon, then less and less often.
        await this.idle(backoffDelay(fenceWaits++, FIRST_FENCE_RETRY_MS, this.settings.pollIntervalMs), signal);
      } else {
        fenceWaits = 0;
        await this.idle(this.settings.pollIntervalMs, signal);
      }
    }
    await this.disconnect();
  }

  private async connect(): Promise<void> {
    await this.connectedProducer();
    if (!this.session?.alive) {
      await this.dropSession();
      this.session = await RelaySession.open({
        databaseUrl: this.options.databaseUrl,
        schema: await outboxSchema(this.options.db),
        buckets: this.settings.buckets,
        logger: this.logger,
        onNotification: () => {
          this.counters.notifications++;
          this.notified = true;
          this.wake?.abort();
        },
        onLost: (error) => {
          this.logger.warn({ err: describe(error) }, 'outbox relay lost its database session; buckets released');
          this.wake?.abort();
        },
      });
      await this.session.rebalance();
      this.logger.info({ buckets: this.session.buckets }, 'outbox relay listening');
    }
  }

  private async publishBatch(): Promise<{ full: boolean; fenced: boolean }> {
    const session = this.session;
    if (!session) return { full: false, fenced: false };
    // Rows committed before this point are read below; a NOTIFY from now on means more.
    this.notified = false;
    await session.rebalance();
    const buckets = session.buckets;
    if (buckets.length === 0) return { full: false, fenced: false };

    const { db } = this.options;
    const rows = (await db(OUTBOX_TABLE)
      .select('id', 'event_id', 'event_type', 'topic', 'message_key', 'value', 'avro_fingerprint', 'headers', 'occurred_at')
      .select(db.raw('xid < pg_snapshot_xmin(pg_current_snapshot()) AS ready'))
      .whereNull('published_at')
      .whereNull('set_aside_at')
      .whereRaw(`(hashtext(coalesce(message_key, '')) & 2147483647) % ? IN (${buckets.map(() => '?').join(', ')})`, [
        this.settings.buckets,
        ...buckets,
      ])
      .orderBy([{ column: 'xid' }, { column: 'id' }])
      .limit(this.settings.batchSize)) as Candidate[];
    // Sorted by xid, the rows below the fence come first.
    const ready = rows.filter((r) => r.ready);
    const fenced = ready.length < rows.length;
    if (fenced) this.counters.fenceWaits++;
    if (ready.length === 0) return { full: false, fenced };

    const outcome: Outcome = { published: [], setAside: [] };
    const sendable: Sendable[] = [];
    let failure: unknown;
    try {
      for (const row of ready) {
        const encoded = await this.encoder.encode(row);
        if ('refusal' in encoded) outcome.setAside.push({ row, refusal: encoded.refusal });
        else sendable.push(toSendable(row, encoded.value));
      }
      if (sendable.length > 0) await this.sendSettingAside(sendable, outcome);
      faultPoint('outbox.after-ack');
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      endSendSpans(sendable, outcome, failure);
      // Also after a failure part-way: what was published or set aside is recorded.
      await this.record(outcome);
    }
    this.counters.batches++;
    return { full: ready.length === this.settings.batchSize, fenced };
  }

  /**
   * Sends `rows` in order; the ones the broker refuses for good are set aside (see
   * sendIsolatingRefusals), and so are those of a topic the cluster does not have. Any other
   * failure is thrown, to be retried with the batch.
   */
  private async sendSettingAside(rows: Sendable[], outcome: Outcome): Promise<void> {
    try {
      await sendIsolatingRefusals(
        rows,
        async (part) => {
          await this.send(part);
          outcome.published.push(...part.map((r) => r.row));
        },
        ({ row }, error) => outcome.setAside.push({ row, refusal: { code: kafkaErrorType(error) ?? 'REFUSED', reason: describe(error) } }),
      );
    } catch (error) {
      if (!isUnknownTopic(error)) throw error;
      const missing = await this.missingTopics(rows);
      if (missing.size === 0) throw error;
      const handled = new Set([...outcome.published, ...outcome.setAside.map((s) => s.row)]);
      const left = rows.filter((r) => !handled.has(r.row));
      for (const { row } of left.filter((r) => missing.has(r.row.topic))) {
        outcome.setAside.push({ row, refusal: { code: 'TOPIC_MISSING', reason: `topic "${row.topic}" does not exist (${describe(error)})` } });
      }
      const others = left.filter((r) => !missing.has(r.row.topic));
      if (others.length > 0) await this.sendSettingAside(others, outcome);
    }
  }

  /** The producer, connected; a new one after a failed send. */
  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = createEventProducer(this.options.kafka, { metadataMaxAgeMs: this.settings.metadataMaxAgeMs });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  private async send(rows: Sendable[]): Promise<void> {
    const producer = await this.connectedProducer();
    const byTopic = new Map<string, Message[]>();
    for (const { row, message } of rows) {
      const messages = byTopic.get(row.topic) ?? [];
      messages.push(message);
      byTopic.set(row.topic, messages);
    }
    try {
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    } catch (error) {
      // A fresh idempotent producer (new producer id) rather than one whose sequence state is in doubt.
      this.producer = undefined;
      await producer.disconnect().catch(() => undefined);
      throw new PublishError(`publishing ${rows.length} outbox row(s) failed: ${describe(error)}`, error, { retriable: isRetriableKafkaError(error) });
    }
  }

  /** The topics of `rows` the cluster does not have (asked after the producer's retries said so). */
  private async missingTopics(rows: Sendable[]): Promise<Set<string>> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      return new Set(rows.map((r) => r.row.topic).filter((topic) => !existing.has(topic)));
    } finally {
      await admin.disconnect();
    }
  }

  /** Marks what a batch published, and sets aside what it could not. */
  private async record(outcome: Outcome): Promise<void> {
    if (outcome.published.length === 0 && outcome.setAside.length === 0) return;
    const { db } = this.options;
    await db.transaction(async (trx) => {
      if (outcome.published.length > 0) {
        // A crash before this publishes these rows again later: consumers deduplicate on event_id.
        await trx(OUTBOX_TABLE)
          .whereIn('id', outcome.published.map((r) => r.id))
          .update({ published_at: trx.fn.now() });
      }
      for (const { row, refusal } of outcome.setAside) {
        await trx(OUTBOX_TABLE).where({ id: row.id }).update({ set_aside_at: trx.fn.now(), set_aside_code: refusal.code, set_aside_reason: refusal.reason });
      }
    });
    this.counters.published += outcome.published.length;
    this.counters.setAside += outcome.setAside.length;
    for (const { row, refusal } of outcome.setAside) {
      this.logger.error({ id: row.id, eventId: row.event_id, eventType: row.event_type, topic: row.topic, code: refusal.code, reason: refusal.reason }, 'outbox row set aside: it cannot be published');
    }
  }

  /** Waits `ms` for work; ends early when stopped, on NOTIFY, or when the session is lost. */
  private async idle(ms: number, signal: AbortSignal): Promise<void> {
    // A NOTIFY or a lost session may have come while the relay was busy.
    if (signal.aborted || this.notified || !this.session?.alive) return;
    const wake = new AbortController();
    this.wake = wake;
    // Rejects only when woken early, which is the point.
    await sleep(ms, AbortSignal.any([signal, wake.signal])).catch(() => undefined);
    this.wake = undefined;
  }

  private async dropSession(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.close();
  }

  private async disconnect(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
    await this.dropSession();
  }
}

/** The schema of the outbox table `db` reads: the relays of that schema share its buckets. */
async function outboxSchema(db: Db): Promise<string> {
  const result = await db.raw<{ rows: Array<{ schema: string; path: string }> }>(
    `SELECT (SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass(?)) AS schema, current_setting('search_path') AS path`,
    [OUTBOX_TABLE],
  );
  const found = result.rows[0];
  if (!found?.schema) {
    throw new ConfigError(`the outbox relay finds no ${OUTBOX_TABLE} table on its search_path (${found?.path ?? 'unknown'}): run \`tidings migrate\` with the same TIDINGS_DB_SCHEMA`);
  }
  return found.schema;
}

interface Sendable {
  row: OutboxRow;
  message: Message;
  /** The row's `send` span, when tracing is on. */
  span?: Span;
}

interface Outcome {
  published: OutboxRow[];
  setAside: Array<{ row: OutboxRow; refusal: Refusal }>;
}

/**
 * The record of a row. Its traceparent is its own send span's, child of the context stored at
 * enqueue (a new trace without one); with tracing off, a new child id of the stored context.
 */
function toSendable(row: OutboxRow, value: Buffer): Sendable {
  const parent = row.headers.traceparent;
  const span = startSendSpan(row.topic, row.event_id, parent, false);
  return {
    row,
    span,
    message: {
      key: row.message_key,
      value,
      headers: { ...row.headers, traceparent: span ? traceparentOf(span) : childTraceparent(parent) },
      timestamp: row.occurred_at ? String(row.occurred_at.getTime()) : undefined,
    },
  };
}

/** Ends the batch's send spans: published, set aside, or failed with the batch (retried with new spans). */
function endSendSpans(sendable: Sendable[], outcome: Outcome, failure: unknown): void {
  if (!sendable.some((s) => s.span)) return;
  const published = new Set(outcome.published);
  const setAside = new Map(outcome.setAside.map((s) => [s.row, s.refusal]));
  for (const { row, span } of sendable) {
    if (!span) continue;
    const refusal = setAside.get(row);
    if (published.has(row)) {
      span.end();
      continue;
    }
    failSpan(span, refusal ? `set aside: ${refusal.code}` : (failure ?? 'not published'));
    span.end();
  }
}
