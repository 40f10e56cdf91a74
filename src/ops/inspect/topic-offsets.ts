import type { Admin } from 'kafkajs';
import { UnknownTopicError } from './admin-errors';

/** The offsets of one partition: `start` is the first kept record, `end` the next offset to be written. */
export interface PartitionOffsets {
  partition: number;
  start: number;
  end: number;
}

/** Throws UnknownTopicError naming every topic of `topics` the broker does not have. */
export async function assertTopicsExist(admin: Admin, topics: readonly string[], existing?: ReadonlySet<string>): Promise<void> {
  const known = existing ?? new Set(await admin.listTopics());
  const missing = topics.filter((t) => !known.has(t));
  if (missing.length > 0) throw new UnknownTopicError(missing);
}

/** Start and end offsets of every partition of `topic`, by partition. */
export async function topicOffsets(admin: Admin, topic: string): Promise<PartitionOffsets[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.map((o) => ({ partition: o.partition, start: Number(o.low), end: Number(o.high) })).sort((a, b) => a.partition - b.partition);
}

/** `topicOffsets`, asked once per topic however often it is needed (one command, one view). */
export function topicOffsetsReader(admin: Admin): (topic: string) => Promise<PartitionOffsets[]> {
  const asked = new Map<string, Promise<PartitionOffsets[]>>();
  return (topic) => {
    let offsets = asked.get(topic);
    if (offsets === undefined) {
      offsets = topicOffsets(admin, topic);
      asked.set(topic, offsets);
    }
    return offsets;
  };
}
