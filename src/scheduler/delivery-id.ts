import { createHash } from 'node:crypto';

/** Namespace of the scheduler's deterministic ids (itself a random v4 uuid, fixed forever). */
const SCHEDULER_NAMESPACE = '6f1c2b9e-8d4a-4f57-9a3e-2c7b5d1e0a94';

/**
 * A name-based (RFC 4122 version 5, SHA-1) uuid. The delivery ledger is keyed by
 * (event id, channel, recipient); scheduled emails have no event of their own, so their
 * "event id" is derived from what they are about: every instance and every retry of the
 * same reminder or digest computes the same id and hits the same ledger row.
 */
export function nameBasedUuid(name: string, namespace = SCHEDULER_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function reminderDeliveryId(reminderId: string): string {
  return nameBasedUuid(`renewal-reminder:${reminderId}`);
}

export function digestDeliveryId(userId: string, digestDate: string): string {
  return nameBasedUuid(`daily-digest:${userId}:${digestDate}`);
}
