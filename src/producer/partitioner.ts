import type { ICustomPartitioner } from 'kafkajs';
import type { OnPartitioned } from '../kafka/driver';

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;

/** murmur2 over 32-bit ints, the hash of Java's DefaultPartitioner (kafkajs's Long-based one costs ~3 µs a key). */
function murmur2(bytes: Uint8Array, length: number): number {
  let h = MURMUR2_SEED ^ length;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> 24;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= bytes[blocks + 2]! << 16;
    if (tail >= 2) h ^= bytes[blocks + 1]! << 8;
    h ^= bytes[blocks]!;
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h;
}

/** Keys are UTF-8 encoded here rather than into a new Buffer per event. */
const keyScratch = Buffer.allocUnsafe(1024);

/** The partition Java's (and kafkajs's) default partitioner picks for a keyed message. */
export function partitionForKey(key: string | Buffer, partitionCount: number): number {
  let hash: number;
  if (typeof key !== 'string') hash = murmur2(key, key.length);
  else if (key.length * 3 <= keyScratch.length) hash = murmur2(keyScratch, keyScratch.write(key, 0));
  else hash = murmur2(Buffer.from(key), Buffer.byteLength(key));
  return (hash & 0x7fffffff) % partitionCount;
}

/**
 * Java's keyed partitioning, applied inside kafkajs with the producer's own metadata, so the
 * partition count is always the one the producer sends with (kafkajs silently leaves out a
 * message addressed to a partition its metadata does not know yet). Unkeyed messages go
 * round-robin over the partitions that have a leader, as in kafkajs.
 */
export function javaKeyPartitioner(onPartitioned?: OnPartitioned): ICustomPartitioner {
  return () => {
    let next = 0;
    return ({ partitionMetadata, message }) => {
      let partition: number;
      if (message.key !== null && message.key !== undefined) partition = partitionForKey(message.key, partitionMetadata.length);
      else {
        const led = partitionMetadata.filter((p) => p.leader >= 0);
        const choices = led.length > 0 ? led : partitionMetadata;
        partition = choices[next++ % choices.length]!.partitionId;
      }
      onPartitioned?.(message, partition);
      return partition;
    };
  };
}
