import { ConsumerRuntime, type ConsumerRuntimeOptions } from '../../src/consumer/consumer-runtime';
import { AuditHandler } from '../../src/audit/audit-handler';
import type { Platform } from '../../src/platform';

export const AUDIT_GROUP = 'tidings.audit';

export type AuditConsumerOptions = Partial<Pick<ConsumerRuntimeOptions, 'groupId' | 'chunkSize' | 'sessionTimeoutMs' | 'outageBackoff'>>;

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
  const handler = new AuditHandler();
  const runtime = new ConsumerRuntime({
    ...options,
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    groupId: options.groupId ?? AUDIT_GROUP,
    name: 'audit',
    topics: [platform.topics.auth, platform.topics.payment],
    handler,
  });
  await runtime.start();
  return { runtime, handler, stop: () => runtime.stop() };
}
