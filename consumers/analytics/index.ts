import { AnalyticsHandler } from '../../src/analytics/analytics-handler';
import type { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import type { Platform } from '../../src/platform';
import { everyEventRuntime, type EveryEventConsumerOptions } from '../shared/every-event-consumer';

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
  const consumer = buildAnalyticsConsumer(platform, options);
  await consumer.runtime.start();
  return consumer;
}

/** The analytics group, not started (`tidings replay` runs its runtime outside the group). */
export function buildAnalyticsConsumer(platform: Platform, options: AnalyticsConsumerOptions = {}): AnalyticsConsumer {
  const runtime = everyEventRuntime(platform, { name: 'analytics', defaultGroup: ANALYTICS_GROUP, handler: new AnalyticsHandler() }, options);
  return { runtime, stop: () => runtime.stop() };
}
