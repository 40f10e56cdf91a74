import { randomBytes } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { RetryAbortedError } from '../../retry/retry';
import type { PartitionRange } from './replay-range';

export interface ReadOptions {
  /** Names the throwaway consumer group, e.g. the replay id. */
  label: string;
  /** Records per call of `onChunk` at most (read each time, so it may change). */
  chunkSize: () => number;
  /** Ends the reading after the chunk in progress. */
  signal: AbortSignal;
  /**
   * The records of `range` from `range.next` on, in offset order, up to `upTo` (excluded).
   * Once it returns, `range.next` is set to `upTo`. Throwing RetryAbortedError stops the
   * reading with the range left where it was; any other error fails it.
   */
  onChunk: (range: PartitionRange, messages: KafkaMessage[], upTo: string) => Promise<void>;
}

/** `done`: every range was read to its end; `stopped`: the signal ended it first (ranges say where). */
export type ReadResult = 'done' | 'stopped';

/**
 * Reads offset ranges of partitions with a consumer of its own, never the live group: a new
 * group id each time (`tidings-replay-<label>-<random>`), offsets never committed, each
 * partition sought to its range's next offset and paused at its end. kafkajs 2.2.4 has no
 * `assign()`; a one-member group of its own gets every partition of its topics, and a group
 * without committed offsets leaves nothing behind on the broker once it is empty.
 */
export async function readRanges(kafka: Kafka, ranges: PartitionRange[], options: ReadOptions): Promise<ReadResult> {
  const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
  const pending = new Map(ranges.filter((r) => BigInt(r.next) < BigInt(r.end)).map((r) => [key(r.topic, r.partition), r]));
  if (pending.size === 0) return 'done';
  if (options.signal.aborted) return 'stopped';
  const topics = [...new Set([...pending.values()].map((r) => r.topic))];
  const consumer = kafka.consumer({
    groupId: `tidings-replay-${options.label}-${randomBytes(3).toString('hex')}`,
    maxWaitTimeInMs: 500,
    retry: { retries: 5, restartOnFailure: async () => false },
  });
  let settle: (outcome: { result: ReadResult } | { error: unknown }) => void = () => undefined;
  const finished = new Promise<{ result: ReadResult } | { error: unknown }>((resolve) => (settle = resolve));
  const onAbort = (): void => settle({ result: 'stopped' });
  options.signal.addEventListener('abort', onAbort, { once: true });
  consumer.on(consumer.events.CRASH, ({ payload }) => settle({ error: payload.error }));
  try {
    await consumer.connect();
    // fromBeginning: a sought offset that retention has deleted since restarts at the log start, not the end.
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, pause, heartbeat, isRunning, isStale, resolveOffset }) => {
        const range = pending.get(key(batch.topic, batch.partition));
        if (!range) {
          // A partition outside the selection, or one already read to its end.
          pause();
          return;
        }
        const end = BigInt(range.end);
        const next = BigInt(range.next);
        const inRange = withinRange(batch.messages, next, end);
        for (let start = 0; start < inRange.length; ) {
          if (options.signal.aborted || !isRunning() || isStale()) return;
          const slice = inRange.slice(start, start + Math.max(1, options.chunkSize()));
          start += slice.length;
          const upTo = (BigInt(slice[slice.length - 1]!.offset) + 1n).toString();
          if (!(await handle(range, slice, upTo))) return;
          // Moves the fetch position (nothing is committed): without it kafkajs fetches the
          // same first batch of a partition again and again, and a partition larger than one
          // fetch is never read to its end.
          resolveOffset(slice[slice.length - 1]!.offset);
          await heartbeat();
        }
        // Records before the range (a batch starts at the log segment, not at the sought offset).
        if (inRange.length === 0 && batch.messages.length > 0) resolveOffset(batch.lastOffset());
        // Offsets with no record (the batch's last one is past the range): the range is read.
        if (BigInt(batch.lastOffset()) + 1n >= end) {
          if (BigInt(range.next) < end && !(await handle(range, [], range.end))) return;
          pending.delete(key(batch.topic, batch.partition));
          pause();
          if (pending.size === 0) settle({ result: 'done' });
        }
      },
    });
    for (const range of pending.values()) consumer.seek({ topic: range.topic, partition: range.partition, offset: range.next });
    const outcome = await finished;
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    // Waits for the chunk in progress, if any.
    await consumer.disconnect();
  }

  async function handle(range: PartitionRange, messages: KafkaMessage[], upTo: string): Promise<boolean> {
    try {
      await options.onChunk(range, messages, upTo);
      range.next = upTo;
      return true;
    } catch (error) {
      settle(error instanceof RetryAbortedError ? { result: 'stopped' } : { error });
      return false;
    }
  }
}

/**
 * The messages with `next` ≤ offset < `end`, in order. A batch wholly inside the range (all
 * but the first and last of a long read) is returned as it is, without parsing every offset.
 */
function withinRange(messages: KafkaMessage[], next: bigint, end: bigint): KafkaMessage[] {
  const first = messages[0];
  const last = messages[messages.length - 1];
  if (!first || !last) return [];
  if (BigInt(first.offset) >= next && BigInt(last.offset) < end) return messages;
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    return offset >= next && offset < end;
  });
}
