import type { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import { AuditHandler } from '../../src/audit/audit-handler';
import type { Platform } from '../../src/platform';
import { everyEventRuntime, type EveryEventConsumerOptions } from '../shared/every-event-consumer';

export const AUDIT_GROUP = 'tidings.audit';

export type AuditConsumerOptions = EveryEventConsumerOptions;

export interface AuditConsumer {
  runtime: ConsumerRuntime;
  handler: AuditHandler;
  stop(): Promise<void>;
}

/**
 * The audit consumer group: appends every auth and payment event, once, to the
 * hash-chained audit log. It has its own offsets, so it neither waits for nor slows the
 * notification group. Instances share the partitions; appends to the chain take turns.
 */
export async function startAuditConsumer(platform: Platform, options: AuditConsumerOptions = {}): Promise<AuditConsumer> {
  const consumer = buildAuditConsumer(platform, options);
  await consumer.runtime.start();
  return consumer;
}

/** The audit group, not started (`tidings replay` runs its runtime outside the group). */
export function buildAuditConsumer(platform: Platform, options: AuditConsumerOptions = {}): AuditConsumer {
  const handler = new AuditHandler({ dataKeys: platform.dataKeys });
  const runtime = everyEventRuntime(platform, { name: 'audit', defaultGroup: AUDIT_GROUP, handler }, options);
  return { runtime, handler, stop: () => runtime.stop() };
}
