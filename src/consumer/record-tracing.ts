import { ROOT_CONTEXT, context, trace, type Context, type Span } from '@opentelemetry/api';
import { ATTR, contextFromTraceparent, failSpan, startProcessSpan, traceparentOf, tracingEnabled, withEventContexts } from '../observability/tracing';
import { FAILURE_HEADERS, attemptsOf } from './failure-headers';
import type { EventRecord, InboundRecord } from './messages';

/**
 * The CONSUMER spans of one chunk: a `process <topic>` span per record, child of the span
 * its `traceparent` header names (the publish, or the failed attempt before a retry tier), and
 * linked to the record's first attempt when it is a retry. A record moved on to a tier or the
 * DLQ carries its span as `traceparent`, so the next attempt continues the same trace.
 * Everything is a no-op while tracing is off.
 */
export class ChunkTracing {
  private readonly enabled = tracingEnabled();
  /** A record and its decoded event map to the same span. */
  private readonly spans = new Map<InboundRecord, Span>();
  /** Event id → the context of its process span, for the work done per event (provider calls). */
  private readonly contexts = new Map<string, Context>();

  constructor(private readonly groupId: string) {}

  start(record: InboundRecord): void {
    if (!this.enabled) return;
    const first = record.headers[FAILURE_HEADERS.firstAttemptTraceparent];
    const span = startProcessSpan(
      record.topic,
      {
        [ATTR.messagingSystem]: 'kafka',
        [ATTR.operationType]: 'process',
        [ATTR.operationName]: 'process',
        [ATTR.destination]: record.topic,
        [ATTR.consumerGroup]: this.groupId,
        [ATTR.partition]: String(record.partition),
        [ATTR.offset]: Number(record.offset),
        [ATTR.attempt]: attemptsOf(record) + 1,
      },
      contextFromTraceparent(record.headers.traceparent, ROOT_CONTEXT),
      first ? [{ traceparent: first, attributes: { 'tidings.link': 'first_attempt' } }] : [],
    );
    this.spans.set(record, span);
  }

  /** The record was decoded into `event`: the span names the event, and work for it runs in its context. */
  identify(record: InboundRecord, event: EventRecord): void {
    const span = this.spans.get(record);
    if (!span) return;
    span.setAttributes({ [ATTR.messageId]: event.eventId, [ATTR.eventType]: event.type });
    this.spans.set(event, span);
    if (!this.contexts.has(event.eventId)) this.contexts.set(event.eventId, trace.setSpan(context.active(), span));
  }

  /** Another lane's record after all: its span is never ended, so never exported. */
  drop(record: InboundRecord): void {
    this.spans.delete(record);
  }

  /** The attempt failed; the record goes on to `outcome`. */
  fail(record: InboundRecord, error: unknown, outcome: 'retry' | 'dead_letter'): void {
    const span = this.spans.get(record);
    if (!span) return;
    failSpan(span, error);
    span.setAttribute(ATTR.outcome, outcome);
  }

  /** The record did not fail but moves on (it waits behind its key's failed event). */
  mark(record: InboundRecord, outcome: 'held'): void {
    this.spans.get(record)?.setAttribute(ATTR.outcome, outcome);
  }

  /** The traceparent a record moved to a tier or the DLQ carries: its span's, when traced. */
  traceparent(record: InboundRecord): string | undefined {
    const span = this.spans.get(record);
    return span ? traceparentOf(span) : undefined;
  }

  /** Runs `work` where each event's context can be found (see withEventContexts). */
  run<T>(work: () => T): T {
    return withEventContexts(this.contexts, work);
  }

  /** Ends every span of the chunk (also when the chunk failed and will be retried: the next try has spans of its own). */
  end(error?: unknown): void {
    for (const span of new Set(this.spans.values())) {
      if (error !== undefined) failSpan(span, error);
      span.end();
    }
    this.spans.clear();
  }
}
