import type { Kafka, Producer } from 'kafkajs';
import { javaKeyPartitioner, type OnPartitioned } from './partitioner';

export interface EventProducerOptions {
  /** The producer re-reads the cluster's metadata (partition counts, leaders) at least this often. */
  metadataMaxAgeMs: number;
  onPartitioned?: OnPartitioned;
}

/**
 * The Kafka producer behind both the Publisher and the outbox relay: idempotent, one request
 * in flight (so retries keep order), Java-compatible partitioning over the producer's own,
 * regularly refreshed metadata. Both paths therefore put a key on the same partition, also
 * after partitions were added.
 */
export function createEventProducer(kafka: Kafka, options: EventProducerOptions): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    metadataMaxAge: options.metadataMaxAgeMs,
    createPartitioner: javaKeyPartitioner(options.onPartitioned),
  });
}
