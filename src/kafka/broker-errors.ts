/**
 * What a kafkajs failure means. After its own retries kafkajs wraps the error that decided
 * the outcome (KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError, both with
 * `retriable: false`), so the answer is read from the innermost error of the `cause` chain
 * (below Tidings' own PublishError too).
 */

import { KafkaAuthenticationError, KafkaAuthorizationError, describe } from '../errors';

const WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSNonRetriableError', 'PublishError']);

/** Broker answers about one record (or its batch) that no retry changes. */
const RECORD_REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_TIMESTAMP', 'INVALID_RECORD']);

interface KafkaLikeError {
  name?: string;
  type?: string;
  retriable?: boolean;
  cause?: unknown;
}

/** The error that decided the outcome: the innermost one below kafkajs's retry wrappers. */
function decisive(error: unknown): KafkaLikeError | undefined {
  let current = error as KafkaLikeError | undefined;
  for (let depth = 0; current && depth < 10; depth++) {
    if (!WRAPPERS.has(current.name ?? '') || current.cause === undefined) return current;
    current = current.cause as KafkaLikeError;
  }
  return current;
}

/** The Kafka protocol error type (e.g. `MESSAGE_TOO_LARGE`) behind a failure, if any. */
export function kafkaErrorType(error: unknown): string | undefined {
  return decisive(error)?.type;
}

/** Whether trying the same publish again can succeed (errors that do not say are assumed transient). */
export function isRetriableKafkaError(error: unknown): boolean {
  return decisive(error)?.retriable !== false;
}

/** The broker refused the record itself (too large, timestamp out of range, invalid): sending it again fails again. */
export function isRecordRefusal(error: unknown): boolean {
  return RECORD_REFUSALS.has(kafkaErrorType(error) ?? '');
}

/** The topic or partition was unknown to the broker, even after kafkajs refreshed its metadata. */
export function isUnknownTopic(error: unknown): boolean {
  return kafkaErrorType(error) === 'UNKNOWN_TOPIC_OR_PARTITION';
}

/**
 * Sends `items` in order. When the broker refuses a record for good, the items are sent again
 * in halves, in order, until each refused one stands alone and is handed to `refused`; the
 * others get through (a batch refused only for its total size passes in halves). Any other
 * failure is thrown. Parts of a refused request may have been written already, so items can
 * be sent twice: consumers deduplicate on event_id.
 */
export async function sendIsolatingRefusals<T>(items: T[], send: (part: T[]) => Promise<void>, refused: (item: T, error: unknown) => void): Promise<void> {
  try {
    await send(items);
  } catch (error) {
    if (!isRecordRefusal(error)) throw error;
    if (items.length === 1) {
      refused(items[0]!, error);
      return;
    }
    const half = Math.ceil(items.length / 2);
    await sendIsolatingRefusals(items.slice(0, half), send, refused);
    await sendIsolatingRefusals(items.slice(half), send, refused);
  }
}

/** Who a client is to the brokers, to name it in a refusal (never with its password). */
export interface ClientIdentity {
  brokers: readonly string[];
  /** `User:<name>` for a SASL login; else the certificate's subject or `User:ANONYMOUS`. */
  principal: string;
  sasl?: { mechanism: string; username: string };
}

/**
 * `error` as Tidings' typed error when it is about this client's credentials or permissions:
 * a refused SASL login (KafkaAuthenticationError, naming KAFKA_SASL_PASSWORD) or a write the
 * ACLs refuse (KafkaAuthorizationError, naming `topics` and the principal). Any other error is
 * returned as it is.
 */
export function typedSecurityFailure(error: unknown, identity: ClientIdentity, topics: readonly string[] = []): unknown {
  const cause = decisive(error);
  if (cause?.name === 'KafkaJSSASLAuthenticationError' || cause?.type === 'SASL_AUTHENTICATION_FAILED') {
    const login = identity.sasl ? `the ${identity.sasl.mechanism.toUpperCase()} login of user "${identity.sasl.username}"` : 'the SASL login';
    return new KafkaAuthenticationError(
      `Kafka (${identity.brokers.join(',')}) refused ${login}: ${describe(cause)}. Check KAFKA_SASL_PASSWORD and KAFKA_SASL_USERNAME (and KAFKA_SASL_MECHANISM: the broker must offer it)`,
      identity.sasl?.username,
      error,
    );
  }
  const type = cause?.type;
  if (type === 'TOPIC_AUTHORIZATION_FAILED' || (type === 'CLUSTER_AUTHORIZATION_FAILED' && topics.length > 0)) {
    const where = topics.length === 1 ? topics[0] : `one of ${topics.join(', ') || '(unknown topics)'}`;
    // An idempotent producer needs WRITE on some topic before it may send at all (InitProducerId).
    const needs = type === 'TOPIC_AUTHORIZATION_FAILED' ? 'WRITE on the topic' : 'WRITE on a topic (or IDEMPOTENT_WRITE on the cluster) for an idempotent producer';
    return new KafkaAuthorizationError(`${identity.principal} is not authorized to write to ${where} (${type}): the broker's ACLs must grant it ${needs}`, { topics, principal: identity.principal }, error);
  }
  return error;
}
