import { AnalyticsHandler } from '../../src/analytics/analytics-handler';
import type { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import type { Platform } from '../../src/platform';
import { startEveryEventRuntime, type EveryEventConsumerOptions } from '../shared/every-event-consumer';

export const ANALYTICS_GROUP = 'tidings.analytics';

export type AnalyticsConsumerOptions = EveryEventConsumerOptions;

export interface AnalyticsConsumer {
  runtime: ConsumerRuntime;
  stop(): Promise<void>;
}

/**
 * The analytics consumer group: per-day counters of every event type, with its own offsets.
 * Counting happens in the inbox transaction, so each event is counted exactly once.
 */
export async function startAnalyticsConsumer(platform: Platform, options: AnalyticsConsumerOptions = {}): Promise<AnalyticsConsumer> {
  const runtime = await startEveryEventRuntime(platform, { name: 'analytics', defaultGroup: ANALYTICS_GROUP, handler: new AnalyticsHandler() }, options);
  return { runtime, stop: () => runtime.stop() };
}
