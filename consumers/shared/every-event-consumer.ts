import { ConsumerRuntime, type ConsumerRuntimeOptions, type EventHandler } from '../../src/consumer/consumer-runtime';
import type { Platform } from '../../src/platform';

/** What a caller may tune on a group that reads every auth and payment event. */
export type EveryEventConsumerOptions = Partial<Pick<ConsumerRuntimeOptions, 'groupId' | 'chunkSize' | 'sessionTimeoutMs' | 'outageBackoff'>>;

/**
 * A consumer group over both event topics with its own offsets (audit, analytics), not started:
 * `defaultGroup` unless the options name another, `name` in logs and metrics.
 */
export function everyEventRuntime(
  platform: Platform,
  identity: { name: string; defaultGroup: string; handler: EventHandler },
  options: EveryEventConsumerOptions,
): ConsumerRuntime {
  return new ConsumerRuntime({
    ...options,
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    dataKeys: platform.dataKeys,
    groupId: options.groupId ?? identity.defaultGroup,
    name: identity.name,
    topics: [platform.topics.auth, platform.topics.payment],
    handler: identity.handler,
  });
}
