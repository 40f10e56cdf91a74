import type { Kafka } from 'kafkajs';
import { waitFor } from './wait';

/**
 * Waits until `groupId` has committed offsets up to the end of every partition of `topics`:
 * everything published so far has been consumed and its effects committed.
 */
export async function waitForGroupToCatchUp(kafka: Kafka, groupId: string, topics: string[], timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(
      `${groupId} to consume everything on ${topics.join(', ')}`,
      async () => {
        const committed = await admin.fetchOffsets({ groupId, topics });
        for (const topic of topics) {
          const partitions = committed.find((c) => c.topic === topic)?.partitions ?? [];
          for (const end of await admin.fetchTopicOffsets(topic)) {
            const offset = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
            if (BigInt(end.high) > BigInt(end.low) && BigInt(offset) < BigInt(end.high)) return false;
          }
        }
        return true;
      },
      timeoutMs,
      200,
    );
  } finally {
    await admin.disconnect();
  }
}
