import { z } from 'zod';
import { durationMs, parseOptions } from '../../src/config/options';
import { ConsumerRuntime, type ConsumerRuntimeOptions } from '../../src/consumer/consumer-runtime';
import { describe } from '../../src/errors';
import { createLogger } from '../../src/observability/logger';
import { DLQ_INDEX_NAME, discoverDlqTopics } from '../../src/ops/dlq/dlq-topics';
import { DeadLetterIndexHandler, deadLetterDecoder } from '../../src/ops/dlq/index-handler';
import type { Platform } from '../../src/platform';

export const DLQ_INDEX_GROUP = 'tidings.dlq-index';

export interface DeadLetterIndexOptions extends Partial<Pick<ConsumerRuntimeOptions, 'groupId' | 'chunkSize' | 'sessionTimeoutMs' | 'outageBackoff'>> {
  /** How often the broker is asked for DLQ topics created since the start (a group deployed later). Default 60 s. */
  rescanIntervalMs?: number;
}

export interface DeadLetterIndex {
  readonly groupId: string;
  /** The DLQ topics read now. */
  readonly topics: readonly string[];
  /** The runtime reading them; undefined while no DLQ topic exists yet. */
  readonly runtime: ConsumerRuntime | undefined;
  readonly handler: DeadLetterIndexHandler;
  stop(): Promise<void>;
}

/**
 * The dead-letter index group: reads every DLQ topic of the groups over the auth and payment
 * topics (`<source>.<group>.dlq`) and keeps one row per record in `dead_letters`, exactly
 * once through its inbox, for `tidings dlq`. The records stay in Kafka; the rows only point
 * at them. A DLQ topic created later is picked up at the next rescan (the runtime restarts
 * with it; its offsets are the group's, so nothing is read twice).
 */
export async function startDeadLetterIndex(platform: Platform, options: DeadLetterIndexOptions = {}): Promise<DeadLetterIndex> {
  const { rescanIntervalMs: requested, ...runtimeOptions } = options;
  const { rescanIntervalMs } = parseOptions('dead-letter index', z.object({ rescanIntervalMs: durationMs.default(60_000) }), { rescanIntervalMs: requested });
  const groupId = runtimeOptions.groupId ?? DLQ_INDEX_GROUP;
  const logger = createLogger(`consumer:${groupId}`);
  const handler = new DeadLetterIndexHandler();
  const decode = deadLetterDecoder(platform.registry);
  let runtime: ConsumerRuntime | undefined;
  let topics: string[] = [];
  let stopped = false;

  const rescan = async (): Promise<void> => {
    const found = await discoverDlqTopics(platform.kafka, [platform.topics.auth, platform.topics.payment]);
    if (stopped || found.join('\n') === topics.join('\n')) return;
    await runtime?.stop();
    runtime = undefined;
    topics = [];
    if (found.length === 0) return;
    logger.info({ topics: found }, 'indexing these DLQ topics');
    const next = new ConsumerRuntime({
      ...runtimeOptions,
      kafka: platform.kafka,
      db: platform.db,
      registry: platform.registry,
      dataKeys: platform.dataKeys,
      groupId,
      name: DLQ_INDEX_NAME,
      topics: found,
      // Nothing here fails per record (every record is indexed), so one tier is enough.
      retryDelaysMs: [60_000],
      decode,
      handler,
      logger,
    });
    try {
      await next.start();
    } catch (error) {
      await next.stop().catch(() => undefined);
      throw error;
    }
    runtime = next;
    topics = found;
  };

  await rescan();
  if (topics.length === 0) logger.info({ rescanIntervalMs }, 'no DLQ topic yet: looking again at every rescan');
  // One rescan at a time; a failed one (broker unreachable) is logged and tried again next time.
  let scanning: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    scanning = scanning.then(rescan).catch((error: unknown) => logger.warn({ error: describe(error) }, 'rescan of the DLQ topics failed; retrying at the next interval'));
  }, rescanIntervalMs);
  timer.unref();

  return {
    groupId,
    get topics() {
      return topics;
    },
    get runtime() {
      return runtime;
    },
    handler,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await scanning;
      await runtime?.stop();
    },
  };
}
