import { OutboxRelay, type OutboxRelayOptions } from '../../src/outbox/outbox-relay';
import type { Platform } from '../../src/platform';

export type OutboxRelayStartOptions = Omit<OutboxRelayOptions, 'kafka' | 'db' | 'databaseUrl' | 'registry'>;

/**
 * The outbox relay: publishes the rows services wrote with `outbox.enqueue`. Run several
 * instances for availability; they share the key buckets, and a key is only ever published
 * by one of them at a time.
 */
export async function startOutboxRelay(platform: Platform, options: OutboxRelayStartOptions = {}): Promise<OutboxRelay> {
  const relay = new OutboxRelay({
    ...options,
    kafka: platform.kafka,
    db: platform.db,
    databaseUrl: platform.endpoints.databaseUrl,
    registry: platform.registry,
  });
  await relay.start();
  return relay;
}
