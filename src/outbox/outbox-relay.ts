import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { z } from 'zod';
import { backoffDelay } from '../retry/backoff';
import type { Db } from '../db/database';
import { ConfigError, PublishError, TidingsError, describe } from '../errors';
import { faultPoint } from '../observability/fault-injection';
import { createLogger, type Logger } from '../observability/logger';
import { OUTBOX_TABLE, type OutboxRow } from './outbox';
import { RelaySession } from './relay-session';

export interface OutboxRelayOptions {
  kafka: Kafka;
  db: Db;
  /** For the relay's own connection (LISTEN and bucket locks), apart from the `db` pool. */
  databaseUrl: string;
  /** Rows read and published per batch. Default 500. */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Key buckets shared among the relays; every relay of a database must use the same number. Default 16. */
  buckets?: number;
  /** Published rows older than this are deleted. Default 24 h. */
  retentionMs?: number;
  /** How often to prune. Default 10 min. */
  pruneIntervalMs?: number;
  /** Backoff while the broker or PostgreSQL is unreachable. Default 200 ms doubling to 30 s, with jitter. */
  outageBackoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
}

export interface OutboxRelayStats {
  /** Rows published and marked (a row published again after a crash counts again). */
  published: number;
  batches: number;
  pruned: number;
  /** Failed attempts (broker or database); each is retried after a backoff. */
  failures: number;
  /** NOTIFY wake-ups received. */
  notifications: number;
  /** Reads that found committed rows waiting behind a transaction still in flight. */
  fenceWaits: number;
  /** Buckets this relay holds right now. */
  buckets: number[];
}

const positiveInt = z.number().int().positive();
const settingsSchema = z.object({
  batchSize: positiveInt.default(500),
  pollIntervalMs: positiveInt.default(1_000),
  buckets: positiveInt.max(1024).default(16),
  retentionMs: positiveInt.default(24 * 60 * 60 * 1_000),
  pruneIntervalMs: positiveInt.default(10 * 60 * 1_000),
  outageBackoff: z.object({ initialMs: positiveInt, maxMs: positiveInt }).default({ initialMs: 200, maxMs: 30_000 }),
});
type Settings = z.infer<typeof settingsSchema>;

const PRUNE_CHUNK = 10_000;
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
 */
export class OutboxRelay {
  private readonly settings: Settings;
  private readonly logger: Logger;
  private readonly counters = { published: 0, batches: 0, pruned: 0, failures: 0, notifications: 0, fenceWaits: 0 };
  private session: RelaySession | undefined;
  private producer: Producer | undefined;
  private loop: Promise<void> | undefined;
  private running = false;
  private notified = false;
  private ready: Promise<void> | undefined;
  private interrupt: ((reason: 'stop' | 'notify' | 'lost') => void) | undefined;
  private lastPruneAt = 0;

  constructor(private readonly options: OutboxRelayOptions) {
    const { kafka: _kafka, db: _db, databaseUrl: _url, logger: _logger, ...rest } = options;
    const parsed = settingsSchema.safeParse(rest);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
      throw new ConfigError(`invalid outbox relay options: ${problems.join('; ')}`);
    }
    this.settings = parsed.data;
    this.logger = options.logger ?? createLogger('outbox-relay');
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
    this.running = true;
    let started!: () => void;
    let failed!: (error: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.loop = this.run(started, failed);
    return this.ready;
  }

  /** Finishes the batch in progress, then disconnects, releasing the buckets. Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt?.('stop');
    await this.loop;
    this.loop = undefined;
    this.ready = undefined;
    await this.disconnect();
  }

  private async run(started: () => void, failed: (error: unknown) => void): Promise<void> {
    let isStarted = false;
    let failures = 0;
    let fenceRetryMs = FIRST_FENCE_RETRY_MS;
    while (this.running) {
      try {
        await this.connect();
        if (!isStarted) {
          isStarted = true;
          started();
        }
        const batch = await this.publishBatch();
        failures = 0;
        await this.pruneIfDue();
        if (batch.full) continue;
        if (batch.fenced) {
          // Committed rows wait behind an open transaction that may not touch the outbox
          // (so no NOTIFY will come): look again soon, then less and less often.
          await this.pause(fenceRetryMs, true);
          fenceRetryMs = Math.min(fenceRetryMs * 2, this.settings.pollIntervalMs);
        } else {
          fenceRetryMs = FIRST_FENCE_RETRY_MS;
          await this.pause(this.settings.pollIntervalMs, true);
        }
      } catch (error) {
        if (!this.running) break;
        if (!isStarted && error instanceof TidingsError && !error.retriable) {
          this.running = false;
          failed(error);
          break;
        }
        this.counters.failures++;
        const delayMs = backoffDelay(failures++, this.settings.outageBackoff.initialMs, this.settings.outageBackoff.maxMs);
        this.logger.warn({ err: describe(error), delayMs }, 'outbox relay failed; retrying after a backoff');
        if (!this.session?.alive) await this.dropSession();
        await this.pause(delayMs, false);
      }
    }
    await this.disconnect();
  }

  private async connect(): Promise<void> {
    if (!this.producer) {
      const producer = this.options.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // Java-compatible murmur2, the same partition the Publisher and other languages choose.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      this.producer = producer;
    }
    if (!this.session?.alive) {
      await this.dropSession();
      this.session = await RelaySession.open({
        databaseUrl: this.options.databaseUrl,
        buckets: this.settings.buckets,
        logger: this.logger,
        onNotification: () => {
          this.counters.notifications++;
          this.notified = true;
          this.interrupt?.('notify');
        },
        onLost: (error) => {
          this.logger.warn({ err: describe(error) }, 'outbox relay lost its database session; buckets released');
          this.interrupt?.('lost');
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
      .select('id', 'event_id', 'event_type', 'topic', 'message_key', 'value', 'headers', 'occurred_at')
      .select(db.raw('xid < pg_snapshot_xmin(pg_current_snapshot()) AS ready'))
      .whereNull('published_at')
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

    await this.send(ready);
    faultPoint('outbox.after-ack');
    // A crash here publishes these rows again later: consumers deduplicate on event_id.
    await db(OUTBOX_TABLE)
      .whereIn('id', ready.map((r) => r.id))
      .update({ published_at: db.fn.now() });
    this.counters.published += ready.length;
    this.counters.batches++;
    return { full: ready.length === this.settings.batchSize, fenced };
  }

  private async send(rows: OutboxRow[]): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new PublishError('the outbox relay has no producer');
    const byTopic = new Map<string, Message[]>();
    for (const row of rows) {
      const messages = byTopic.get(row.topic) ?? [];
      messages.push({
        key: row.message_key,
        value: row.value,
        headers: row.headers,
        timestamp: row.occurred_at ? String(row.occurred_at.getTime()) : undefined,
      });
      byTopic.set(row.topic, messages);
    }
    try {
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    } catch (error) {
      // A fresh idempotent producer (new producer id) rather than one whose sequence state is in doubt.
      this.producer = undefined;
      await producer.disconnect().catch(() => undefined);
      throw new PublishError(`publishing ${rows.length} outbox row(s) failed: ${describe(error)}`, error);
    }
  }

  private async pruneIfDue(): Promise<void> {
    if (Date.now() - this.lastPruneAt < this.settings.pruneIntervalMs) return;
    const { db } = this.options;
    const cutoff = new Date(Date.now() - this.settings.retentionMs);
    // In chunks, so no single statement holds many row locks for long.
    for (;;) {
      const deleted = await db(OUTBOX_TABLE)
        .whereIn('id', db(OUTBOX_TABLE).select('id').where('published_at', '<', cutoff).limit(PRUNE_CHUNK))
        .delete();
      this.counters.pruned += deleted;
      if (deleted < PRUNE_CHUNK) break;
    }
    this.lastPruneAt = Date.now();
  }

  /**
   * Waits `ms`, or less when stopped. An idle wait also ends on NOTIFY or when the session is
   * lost; a backoff does not, so an outage cannot turn into a busy loop.
   */
  private pause(ms: number, idle: boolean): Promise<void> {
    // A NOTIFY or a lost session may have come while the relay was busy.
    if (!this.running || (idle && (this.notified || !this.session?.alive))) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = (reason) => {
        if (reason === 'stop' || idle) done();
      };
    });
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
