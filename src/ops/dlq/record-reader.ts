import type { Kafka } from 'kafkajs';
import { toInboundRecord, type InboundRecord } from '../../consumer/messages';
import { isUnknownTopic } from '../../kafka/broker-errors';
import { readRanges } from '../replay/partition-reader';
import type { PartitionRange } from '../replay/replay-range';

/** Where a record is. */
export interface RecordAddress {
  topic: string;
  partition: number;
  offset: string;
}

export function addressKey(a: RecordAddress): string {
  return `${a.topic}/${a.partition}/${a.offset}`;
}

/**
 * Reads the records at `addresses` from Kafka, each partition from its first wanted offset to
 * its last, with a consumer group of its own that commits nothing. Returns them by
 * `addressKey`; an address the broker no longer has (deleted topic, truncated partition), or
 * never had, is absent from the map.
 */
export async function readRecords(kafka: Kafka, addresses: readonly RecordAddress[], timeoutMs = 60_000): Promise<Map<string, InboundRecord>> {
  const found = new Map<string, InboundRecord>();
  const wanted = await readable(kafka, addresses);
  if (wanted.size === 0) return found;
  const ranges = new Map<string, PartitionRange>();
  for (const a of wanted.values()) {
    const key = `${a.topic}/${a.partition}`;
    const range = ranges.get(key);
    const next = (BigInt(a.offset) + 1n).toString();
    if (!range) ranges.set(key, { topic: a.topic, partition: a.partition, next: a.offset, end: next });
    else {
      if (BigInt(a.offset) < BigInt(range.next)) range.next = a.offset;
      if (BigInt(next) > BigInt(range.end)) range.end = next;
    }
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  const result = await readRanges(kafka, [...ranges.values()], {
    label: 'dlq',
    chunkSize: () => 500,
    signal: timeout,
    onChunk: async (range, messages) => {
      for (const message of messages) {
        const key = addressKey({ topic: range.topic, partition: range.partition, offset: message.offset });
        if (wanted.has(key)) found.set(key, toInboundRecord(range.topic, range.partition, message));
      }
    },
  });
  if (result === 'stopped') throw new Error(`reading ${wanted.size} record(s) from Kafka timed out after ${timeoutMs} ms (${found.size} read)`);
  return found;
}

/** The addresses that lie between their partition's low and high watermarks now. */
async function readable(kafka: Kafka, addresses: readonly RecordAddress[]): Promise<Map<string, RecordAddress>> {
  const admin = kafka.admin();
  await admin.connect();
  const wanted = new Map<string, RecordAddress>();
  try {
    for (const topic of new Set(addresses.map((a) => a.topic))) {
      const marks = await admin.fetchTopicOffsets(topic).catch((error: unknown) => {
        // A topic that does not exist (any more) has none of its records.
        if (isUnknownTopic(error)) return undefined;
        throw error;
      });
      for (const a of marks ? addresses.filter((x) => x.topic === topic) : []) {
        const mark = marks?.find((m) => m.partition === a.partition);
        if (mark && BigInt(a.offset) >= BigInt(mark.low) && BigInt(a.offset) < BigInt(mark.high)) wanted.set(addressKey(a), a);
      }
    }
  } finally {
    await admin.disconnect();
  }
  return wanted;
}
