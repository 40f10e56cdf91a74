import { AnalyticsHandler } from '../../src/analytics/analytics-handler';
import { ConsumerRuntime, type ConsumerRuntimeOptions } from '../../src/consumer/consumer-runtime';
import type { Platform } from '../../src/platform';

export const ANALYTICS_GROUP = 'tidings.analytics';

export type AnalyticsConsumerOptions = Partial<Pick<ConsumerRuntimeOptions, 'groupId' | 'chunkSize' | 'sessionTimeoutMs' | 'outageBackoff'>>;

export interface AnalyticsConsumer {
  runtime: ConsumerRuntime;
  stop(): Promise<void>;
}

/**
 * The analytics consumer group: per-day counters of every event type, with its own offsets.
 * Counting happens in the inbox transaction, so each event is counted exactly once.
 */
export async function startAnalyticsConsumer(platform: Platform, options: AnalyticsConsumerOptions = {}): Promise<AnalyticsConsumer> {
  const runtime = new ConsumerRuntime({
    ...options,
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    groupId: options.groupId ?? ANALYTICS_GROUP,
    name: 'analytics',
    topics: [platform.topics.auth, platform.topics.payment],
    handler: new AnalyticsHandler(),
  });
  await runtime.start();
  return { runtime, stop: () => runtime.stop() };
}
