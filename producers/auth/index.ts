import { AUTH_EVENT_TYPES } from '../../src/events/generated';
import type { Publisher } from '../../src/producer/publisher';
import { createTypedProducer, type TypedProducer } from '../typed-producer';

export type AuthEventType = (typeof AUTH_EVENT_TYPES)[number];
export type AuthProducer = TypedProducer<AuthEventType>;

/**
 * For authentication services: `auth.userRegistered({...})`, `auth.loginAlert({...})`, …
 * each validated against its schema and published to `auth.events` keyed by user id.
 */
export function createAuthProducer(publisher: Publisher): AuthProducer {
  return createTypedProducer(publisher, AUTH_EVENT_TYPES);
}
