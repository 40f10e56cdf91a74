import type { IHeaders, Kafka, Producer } from 'kafkajs';
import type { Logger } from '../../observability/logger';
import { createEventProducer } from '../../producer/event-producer';
import type { ReplayCounts } from './replay-counts';
import type { ReplayRecord } from './record-filter';
import { untilDone, type ReplaySink } from './replay-sink';

/** Headers a republished copy carries besides the original's: where it was copied from, by which replay. */
export const REPLAY_HEADERS = {
  sourceTopic: 'tidings-replay-source-topic',
  sourcePartition: 'tidings-replay-source-partition',
  sourceOffset: 'tidings-replay-source-offset',
  replayId: 'tidings-replay-id',
} as const;

/**
 * Republish: copies each record to the target topic with its key, value and headers byte for
 * byte, plus the replay headers. Partitioned by key as Tidings' producers do, so a key keeps
 * its order (and its partition, when the target has as many partitions as the source). The
 * timestamp is the copy's own. At least once: a chunk done again after a crash is copied
 * again; the replay headers (and the event id inside) tell the copies apart.
 */
export class RepublishSink implements ReplaySink {
  private readonly producer: Producer;

  constructor(
    kafka: Kafka,
    private readonly target: string,
    private readonly replayId: string,
    private readonly logger: Logger,
  ) {
    this.producer = createEventProducer(kafka, { metadataMaxAgeMs: 60_000 });
  }

  async open(): Promise<void> {
    await this.producer.connect();
  }

  async process(records: ReplayRecord[], counts: ReplayCounts, signal: AbortSignal): Promise<boolean> {
    if (records.length === 0) return true;
    const messages = records.map(({ message, record }) => ({
      key: message.key,
      value: message.value,
      headers: {
        ...message.headers,
        [REPLAY_HEADERS.sourceTopic]: record.topic,
        [REPLAY_HEADERS.sourcePartition]: String(record.partition),
        [REPLAY_HEADERS.sourceOffset]: record.offset,
        [REPLAY_HEADERS.replayId]: this.replayId,
      } satisfies IHeaders,
    }));
    const ok = await untilDone('republishing a chunk', async () => void (await this.producer.send({ topic: this.target, acks: -1, messages })), signal, this.logger);
    if (ok) counts.republished += records.length;
    return ok;
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
