import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import type { TypedEvent } from '../../src/events/generated';
import type { TopicNames } from '../../src/kafka/topics';
import type { Platform } from '../../src/platform';
import { benchEvents } from './fixtures';
import type { IsolatedStack } from './isolated-stack';
import { NotificationWorker, type WorkerRunResult } from './notification-worker';
import { perSecond } from './scenario';

/** Records per effects transaction: the consumer's default, and the bare baseline's batch. */
export const CHUNK = 500;
/** Publishes awaited together while filling the topics (not timed). */
const PUBLISH_WINDOW = 5_000;
const POLL_MS = 50;

export async function publishAll(platform: Platform, events: TypedEvent[]): Promise<void> {
  await publishing(platform, async (publish) => {
    await publish(events);
  });
}

/** A backlog put on a scenario's topics by `publishBacklog`. */
export interface Backlog extends Expected {
  /** Time spent publishing (not building the events). */
  publishNs: bigint;
}

/** Events built at a time for a large backlog: a slice is published, then dropped. */
const SLICE = 50_000;

/**
 * Publishes `count` events of the bench mix in slices, so a backlog of millions is never held
 * in memory: each slice is the first `SLICE` events of `benchEvents` under fresh event ids
 * (the same types, users and sizes as every scenario; building new ones costs ~90 µs each).
 * Only the publishing is timed.
 */
export async function publishBacklog(platform: Platform, count: number): Promise<Backlog> {
  const base = benchEvents(Math.min(count, SLICE));
  const backlog: Backlog = { events: 0, payments: 0, legalRecords: 0, publishNs: 0n };
  await publishing(platform, async (publish) => {
    for (let done = 0; done < count; done += base.length) {
      const slice = base.slice(0, Math.min(base.length, count - done)).map((e) => ({ ...e, event: { ...e.event, event_id: randomUUID() } }) as TypedEvent);
      const start = process.hrtime.bigint();
      await publish(slice);
      backlog.publishNs += process.hrtime.bigint() - start;
      const counted = expectations(slice);
      backlog.events += counted.events;
      backlog.payments += counted.payments;
      backlog.legalRecords += counted.legalRecords;
    }
  });
  return backlog;
}

/** One connected publisher for `work`, which publishes lists of events, PUBLISH_WINDOW in flight at a time. */
async function publishing(platform: Platform, work: (publish: (events: TypedEvent[]) => Promise<void>) => Promise<void>): Promise<void> {
  const publisher = platform.createPublisher({ maxBatchSize: CHUNK });
  await publisher.connect();
  try {
    await work(async (events) => {
      for (let i = 0; i < events.length; i += PUBLISH_WINDOW) {
        await Promise.all(events.slice(i, i + PUBLISH_WINDOW).map(({ type, event }) => publisher.publish(type, event)));
      }
    });
  } finally {
    await publisher.disconnect();
  }
}

export async function eventsOn(platform: Platform, topics: TopicNames): Promise<number> {
  const admin = platform.kafka.admin();
  await admin.connect();
  try {
    const offsets = [...(await admin.fetchTopicOffsets(topics.auth)), ...(await admin.fetchTopicOffsets(topics.payment))];
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Offsets the group has committed on both topics: the events it has finished. */
async function committed(admin: Admin, groupId: string, topics: TopicNames): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId, topics: [topics.auth, topics.payment] });
  return offsets.flatMap((t) => t.partitions).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

export interface Drained extends WorkerRunResult {
  platform: Platform;
  groupId: string;
  committed: number;
  seconds: number;
  rate: number;
  /**
   * Events/s from the first commit seen to the last: the pace once the group has joined,
   * which the fixed start-up (fork, join) does not weigh on, so small and large backlogs compare.
   */
  steadyRate: number;
  checked?: Record<string, number>;
}

/**
 * A notification consumer group working off a scenario's backlog: runs one in a fresh worker process on a fresh database, timed
 * from the start command (the worker has loaded its code by then) until `stopAt` events are
 * committed or `deadline` passes.
 */
export async function drain(
  own: IsolatedStack,
  label: string,
  options: { stopAt: number; deadline: number; smtpUrl?: string; partitionsConcurrency?: number; progress?: (line: string) => void },
): Promise<Drained> {
  const platform = own.platform({ databaseUrl: await own.createDatabase(), smtpUrl: options.smtpUrl });
  const groupId = `${own.id}.notification.${label}`;
  const admin = platform.kafka.admin();
  await admin.connect();
  const worker = await NotificationWorker.fork();
  try {
    const start = process.hrtime.bigint();
    await worker.start({ endpoints: platform.endpoints, topics: own.topics, clientId: own.id, groupId, chunkSize: CHUNK, partitionsConcurrency: options.partitionsConcurrency, email: options.smtpUrl !== undefined });
    let done = 0;
    let first: { at: bigint; done: number } | undefined;
    let reported = Date.now();
    while (done < options.stopAt && Date.now() < options.deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      done = await committed(admin, groupId, own.topics);
      if (!first && done > 0) first = { at: process.hrtime.bigint(), done };
      if (options.progress && Date.now() - reported >= 5_000) {
        reported = Date.now();
        options.progress(`    ${done} of ${options.stopAt} events committed`);
      }
    }
    const end = process.hrtime.bigint();
    const elapsed = end - start;
    const result = await worker.stop();
    const steadyRate = first && end > first.at ? perSecond(done - first.done, end - first.at) : 0;
    return { ...result, platform, groupId, committed: done, seconds: Number(elapsed) / 1e9, rate: perSecond(done, elapsed), steadyRate };
  } finally {
    await worker.close();
    await admin.disconnect();
  }
}

export interface Expected {
  events: number;
  payments: number;
  /** PAYMENT_SUCCEEDED and INVOICE_GENERATED each leave one legal record. */
  legalRecords: number;
}

export function expectations(events: TypedEvent[]): Expected {
  const count = (type: TypedEvent['type']): number => events.filter((e) => e.type === type).length;
  const ids = new Set(events.map((e) => e.event.event_id));
  if (ids.size !== events.length) throw new Error(`the fixture repeats event ids (${events.length - ids.size})`);
  return { events: events.length, payments: count('PAYMENT_SUCCEEDED'), legalRecords: count('PAYMENT_SUCCEEDED') + count('INVOICE_GENERATED') };
}

/**
 * Exactly-once, checked in PostgreSQL: one inbox row per event, one receipt per
 * PAYMENT_SUCCEEDED and one legal record per receipt or invoice, no duplicate ledger rows,
 * nothing left pending, nothing retried or dead-lettered. A partial run (stopped early) is checked against what its inbox says it applied.
 */
export async function verifyEffects(run: Drained, expected: Expected, complete: boolean): Promise<Record<string, number>> {
  const db = run.platform.db;
  const count = async (sql: string, bindings: string[] = []): Promise<number> => Number(((await db.raw(sql, bindings)) as { rows: Array<{ n: string }> }).rows[0]?.n);
  const group = [run.groupId];
  const c = {
    inbox: await count('SELECT count(*) AS n FROM inbox WHERE consumer_group = ?', group),
    inboxPayments: await count(`SELECT count(*) AS n FROM inbox WHERE consumer_group = ? AND event_type = 'PAYMENT_SUCCEEDED'`, group),
    inboxLegal: await count(`SELECT count(*) AS n FROM inbox WHERE consumer_group = ? AND event_type IN ('PAYMENT_SUCCEEDED', 'INVOICE_GENERATED')`, group),
    receipts: await count('SELECT count(*) AS n FROM receipts'),
    distinctReceipts: await count('SELECT count(DISTINCT event_id) AS n FROM receipts'),
    legalRecords: await count('SELECT count(*) AS n FROM legal_records'),
    ledger: await count('SELECT count(*) AS n FROM delivery_ledger'),
    duplicateLedger: await count('SELECT count(*) AS n FROM (SELECT 1 FROM delivery_ledger GROUP BY event_id, channel, recipient HAVING count(*) > 1) d'),
    unsettled: await count(`SELECT count(*) AS n FROM delivery_ledger WHERE status IN ('pending', 'sending', 'failed')`),
    inAppSent: await count(`SELECT count(*) AS n FROM delivery_ledger WHERE channel = 'in_app' AND status = 'sent'`),
    inApp: await count('SELECT count(*) AS n FROM in_app_notifications'),
  };
  const problems: string[] = [];
  const expect = (what: string, actual: number, wanted: number): void => {
    if (actual !== wanted) problems.push(`${what}: ${actual}, expected ${wanted}`);
  };
  if (complete) {
    expect('inbox rows', c.inbox, expected.events);
    expect('receipts', c.receipts, expected.payments);
    expect('legal records', c.legalRecords, expected.legalRecords);
    expect('pending, sending or failed ledger rows', c.unsettled, 0);
  }
  expect('receipts', c.receipts, c.inboxPayments);
  expect('distinct receipts', c.distinctReceipts, c.receipts);
  expect('legal records', c.legalRecords, c.inboxLegal);
  expect('duplicate ledger keys', c.duplicateLedger, 0);
  expect('in-app notifications', c.inApp, c.inAppSent);
  expect('events retried', run.stats.retried, 0);
  expect('events dead-lettered', run.stats.deadLettered, 0);
  if (problems.length > 0) throw new Error(`exactly-once check failed for ${run.groupId}: ${problems.join('; ')}`);
  run.checked = { receipts: c.receipts, legalRecords: c.legalRecords, ledger: c.ledger, inApp: c.inApp };
  return run.checked;
}
