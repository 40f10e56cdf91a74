import { TidingsError } from '../errors';
import { redactedErrorText } from '../observability/redaction';
import type { InboundRecord } from './messages';
import { personalValuesOf } from './personal-values';

/**
 * Headers added to a record when it moves to a retry tier or the DLQ. The original key,
 * value and headers travel unchanged; these say where it came from and why it moved.
 */
export const FAILURE_HEADERS = {
  originalTopic: 'tidings-original-topic',
  originalPartition: 'tidings-original-partition',
  originalOffset: 'tidings-original-offset',
  originalTimestamp: 'tidings-original-timestamp',
  originalKey: 'tidings-original-key',
  consumerGroup: 'tidings-consumer-group',
  errorClass: 'tidings-error-class',
  errorCode: 'tidings-error-code',
  errorMessage: 'tidings-error-message',
  attempts: 'tidings-attempts',
  firstFailureAt: 'tidings-first-failure-at',
  dueAt: 'tidings-due-at',
  /** Set on a record that did not fail itself but waits behind an earlier failed event of its key. */
  heldBehind: 'tidings-held-behind',
  /** W3C traceparent of the record's first attempt (its first process span); later attempts link to it. */
  firstAttemptTraceparent: 'tidings-first-traceparent',
  /** Set on a record dead-lettered for card data: how its value was masked (or that it was dropped) and where the card data was. */
  valueMasked: 'tidings-value-masked',
} as const;

export interface Origin {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
}

/** Where a record first entered the group: its own coordinates, or those it carries. */
export function originOf(record: InboundRecord): Origin {
  const h = record.headers;
  const topic = h[FAILURE_HEADERS.originalTopic];
  if (!topic) return { topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp, key: record.key };
  return {
    topic,
    partition: Number(h[FAILURE_HEADERS.originalPartition]),
    offset: h[FAILURE_HEADERS.originalOffset] ?? '',
    timestamp: h[FAILURE_HEADERS.originalTimestamp] ?? '',
    key: h[FAILURE_HEADERS.originalKey] ?? record.key,
  };
}

/** Failed attempts so far (0 for a record straight from its source topic). */
export function attemptsOf(record: InboundRecord): number {
  const value = Number(record.headers[FAILURE_HEADERS.attempts] ?? '0');
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

export function dueAtOf(record: InboundRecord): number {
  const value = Number(record.headers[FAILURE_HEADERS.dueAt] ?? '0');
  return Number.isFinite(value) ? value : 0;
}

export interface FailureContext {
  groupId: string;
  attempts: number;
  dueAt: number;
  error?: unknown;
  heldBehind?: string;
  now?: number;
  /**
   * The traceparent of the attempt that moves the record (its process span), when traced: the
   * record carries it, so the next attempt is that span's child in the same trace.
   */
  traceparent?: string;
}

/** Headers for the record's next stop: the original headers, then the failure headers. */
export function failureHeaders(record: InboundRecord, context: FailureContext): Record<string, string> {
  const origin = originOf(record);
  const now = context.now ?? Date.now();
  const headers: Record<string, string> = {
    ...record.headers,
    [FAILURE_HEADERS.originalTopic]: origin.topic,
    [FAILURE_HEADERS.originalPartition]: String(origin.partition),
    [FAILURE_HEADERS.originalOffset]: origin.offset,
    [FAILURE_HEADERS.originalTimestamp]: origin.timestamp,
    [FAILURE_HEADERS.consumerGroup]: context.groupId,
    [FAILURE_HEADERS.attempts]: String(context.attempts),
    [FAILURE_HEADERS.firstFailureAt]: record.headers[FAILURE_HEADERS.firstFailureAt] ?? new Date(now).toISOString(),
    [FAILURE_HEADERS.dueAt]: String(context.dueAt),
  };
  if (origin.key !== null) headers[FAILURE_HEADERS.originalKey] = origin.key;
  if (context.traceparent !== undefined) {
    headers.traceparent = context.traceparent;
    headers[FAILURE_HEADERS.firstAttemptTraceparent] = record.headers[FAILURE_HEADERS.firstAttemptTraceparent] ?? context.traceparent;
  }
  if (context.error !== undefined) {
    const error = context.error;
    headers[FAILURE_HEADERS.errorClass] = error instanceof Error ? error.constructor.name : typeof error;
    headers[FAILURE_HEADERS.errorCode] = error instanceof TidingsError ? error.code : 'UNEXPECTED';
    // Operators read it anywhere the DLQ goes: no address, phone, card number or name the error quoted.
    headers[FAILURE_HEADERS.errorMessage] = redactedErrorText(error, personalValuesOf(record), 1000);
  }
  if (context.heldBehind) headers[FAILURE_HEADERS.heldBehind] = context.heldBehind;
  else delete headers[FAILURE_HEADERS.heldBehind];
  return headers;
}
