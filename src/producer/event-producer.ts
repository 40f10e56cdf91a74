import type { Kafka, Producer } from 'kafkajs';
import type { OnPartitioned } from '../kafka/driver';
import { kafkajsProducer } from '../kafka/kafkajs-driver';

export interface EventProducerOptions {
  /** The producer re-reads the cluster's metadata (partition counts, leaders) at least this often. */
  metadataMaxAgeMs: number;
  onPartitioned?: OnPartitioned;
}

/**
 * The kafkajs producer behind the outbox relay and `tidings replay --republish` (the Publisher
 * gets the same one through the driver): idempotent, one request in flight (so retries keep
 * order), Java-compatible partitioning over the producer's own, regularly refreshed metadata.
 * Every path therefore puts a key on the same partition, also after partitions were added.
 */
export function createEventProducer(kafka: Kafka, options: EventProducerOptions): Producer {
  return kafkajsProducer(kafka, { partitioner: 'java', ...options });
}
