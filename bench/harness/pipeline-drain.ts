import type { Admin } from 'kafkajs';
import type { TypedEvent } from '../../src/events/generated';
import type { TopicNames } from '../../src/kafka/topics';
import type { Platform } from '../../src/platform';
import type { IsolatedStack } from './isolated-stack';
import { NotificationWorker, type WorkerRunResult } from './notification-worker';
import { perSecond } from './scenario';

/** Records per effects transaction: the consumer's default, and the bare baseline's batch. */
export const CHUNK = 500;
/** Publishes awaited together while filling the topics (not timed). */
const PUBLISH_WINDOW = 5_000;
const POLL_MS = 50;

export async function publishAll(platform: Platform, events: TypedEvent[]): Promise<void> {
  const publisher = platform.createPublisher({ maxBatchSize: CHUNK });
  await publisher.connect();
  try {
    for (let i = 0; i < events.length; i += PUBLISH_WINDOW) {
      await Promise.all(events.slice(i, i + PUBLISH_WINDOW).map(({ type, event }) => publisher.publish(type, event)));
    }
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
  options: { stopAt: number; deadline: number; smtpUrl?: string; progress?: (line: string) => void },
): Promise<Drained> {
  const platform = own.platform({ databaseUrl: await own.createDatabase(), smtpUrl: options.smtpUrl });
  const groupId = `${own.id}.notification.${label}`;
  const admin = platform.kafka.admin();
  await admin.connect();
  const worker = await NotificationWorker.fork();
  try {
    const start = process.hrtime.bigint();
    await worker.start({ endpoints: platform.endpoints, topics: own.topics, clientId: own.id, groupId, chunkSize: CHUNK, email: options.smtpUrl !== undefined });
    let done = 0;
    let reported = Date.now();
    while (done < options.stopAt && Date.now() < options.deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      done = await committed(admin, groupId, own.topics);
      if (options.progress && Date.now() - reported >= 5_000) {
        reported = Date.now();
        options.progress(`    ${done} of ${options.stopAt} events committed`);
      }
    }
    const elapsed = process.hrtime.bigint() - start;
    const result = await worker.stop();
    return { ...result, platform, groupId, committed: done, seconds: Number(elapsed) / 1e9, rate: perSecond(done, elapsed) };
  } finally {
    await worker.close();
    await admin.disconnect();
  }
}
