import {
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { TidingsError, describe } from '../errors';
import { scrubText } from './redaction';
import { formatTraceparent, parseTraceparent } from './trace-context';

/**
 * Tidings' spans, through `@opentelemetry/api` only: nothing is recorded or exported unless
 * the process registered a tracer provider (the CLI does when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set; a service embedding the SDK registers its own). Attribute values never hold message
 * keys, recipients or payload fields, and error text is scrubbed of contact and card data.
 */

const TRACER_NAME = 'tidings';

/** Attribute names: OpenTelemetry's messaging conventions, then Tidings' own. */
export const ATTR = {
  messagingSystem: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  consumerGroup: 'messaging.consumer.group.name',
  partition: 'messaging.destination.partition.id',
  offset: 'messaging.kafka.offset',
  messageId: 'messaging.message.id',
  errorType: 'error.type',
  /** The status of a provider's HTTP answer. */
  httpStatus: 'http.response.status_code',
  eventType: 'tidings.event.type',
  attempt: 'tidings.attempt',
  outcome: 'tidings.outcome',
  channel: 'tidings.channel',
  provider: 'tidings.provider',
  providerMessageId: 'tidings.provider.message_id',
  /** The SMTP server's reply code to the message (250, or a refusal's 4xx/5xx). */
  smtpResponseCode: 'tidings.smtp.response_code',
} as const;

/** What the api hands out while no tracer provider is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();
const NON_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Whether a tracer provider is registered. False means spans would be no-ops, and the
 * publisher keeps its cheap path (ids from trace-context.ts, no span objects).
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** Asked for each time: a provider registered (or replaced) after this module loaded is used. */
function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The context a `traceparent` header continues: `base` with that remote span as parent, or `base` itself when the header is missing or malformed. */
export function contextFromTraceparent(header: string | undefined, base: Context = ROOT_CONTEXT): Context {
  const parent = parseTraceparent(header);
  return parent ? trace.setSpanContext(base, parent) : base;
}

/** The traceparent of the active span, if any. */
export function activeTraceparent(): string | undefined {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? formatTraceparent(span) : undefined;
}

export function traceparentOf(span: Span): string {
  return formatTraceparent(span.spanContext());
}

/**
 * The PRODUCER span of one event's publish, child of the span `traceparent` names (or, with
 * none, of the active span when `orActive`, else a new trace); undefined when tracing is off.
 * The caller writes the span's traceparent into the record and ends it when the broker answered.
 */
export function startSendSpan(topic: string, eventId: string, traceparent: string | undefined, orActive: boolean): Span | undefined {
  if (!tracingEnabled()) return undefined;
  return tracer().startSpan(
    `send ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        [ATTR.messagingSystem]: 'kafka',
        [ATTR.operationType]: 'send',
        [ATTR.operationName]: 'send',
        [ATTR.destination]: topic,
        [ATTR.messageId]: eventId,
      },
    },
    traceparent === undefined && orActive ? context.active() : contextFromTraceparent(traceparent),
  );
}

/** Ends a send span with where the broker put the record. */
function endSendSpan(span: Span, placed: { partition: number; offset: string }): void {
  span.setAttribute(ATTR.partition, String(placed.partition));
  if (placed.offset !== '-1') span.setAttribute(ATTR.offset, Number(placed.offset));
  span.end();
}

/** Ends `span` when `result` settles: with the placement, or as failed. */
export function endSendSpanWhenSettled(span: Span, result: Promise<{ partition: number; offset: string }>): void {
  result.then(
    (placed) => endSendSpan(span, placed),
    (error: unknown) => {
      failSpan(span, error);
      span.end();
    },
  );
}

/**
 * Marks a span failed: its status and an exception event carry the error's class, code and
 * message with contact and card data masked (an SMTP reply quotes the refused address).
 */
export function failSpan(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const type = error instanceof TidingsError ? error.code : error instanceof Error ? error.constructor.name : typeof error;
  const message = scrubText(describe(error)).slice(0, 1000);
  span.recordException({ name: error instanceof Error ? error.constructor.name : 'Error', message });
  span.setAttribute(ATTR.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * Runs `work` in a CLIENT span (a provider call) under the active context; a throw marks the
 * span failed and is rethrown. `work` adds what the provider answered (its message id…).
 */
export async function inClientSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return inSpan(name, SpanKind.CLIENT, attributes, work);
}

/** Runs `work` in a span of Tidings' own (no remote peer), e.g. a deferred send with no event context. */
export async function inInternalSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return inSpan(name, SpanKind.INTERNAL, attributes, work);
}

/**
 * Runs `work` in an INTERNAL span that starts a trace of its own, whatever context the caller
 * runs in: for a send made later for an earlier event (a quiet-hours or scheduled send) by a
 * polling loop, whose provider spans would otherwise be roots or join an unrelated trace.
 */
export async function inRootSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return context.with(ROOT_CONTEXT, () => inInternalSpan(name, attributes, work));
}

async function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return work(NON_RECORDING);
  const span = tracer().startSpan(name, { kind, attributes });
  try {
    return await context.with(trace.setSpan(context.active(), span), () => work(span));
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Starts a span for each of `ids` under that id's event context (see eventContext); for work on many events at once, such as a batch write. */
export function startSpansPerEvent(name: string, kind: SpanKind, attributes: Attributes, ids: readonly string[]): Span[] | undefined {
  if (!tracingEnabled()) return undefined;
  return ids.map((id) => tracer().startSpan(name, { kind, attributes }, eventContext(id) ?? context.active()));
}

/** Starts a span for the consumer side; see record-tracing.ts. */
export function startProcessSpan(topic: string, attributes: Attributes, parent: Context, links: Array<{ traceparent: string; attributes: Attributes }>): Span {
  return tracer().startSpan(
    `process ${topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes,
      links: links.flatMap(({ traceparent, attributes: linkAttributes }) => {
        const linked = parseTraceparent(traceparent);
        return linked ? [{ context: linked, attributes: linkAttributes }] : [];
      }),
    },
    parent,
  );
}

const EVENT_CONTEXTS = createContextKey('tidings: event contexts of a chunk');

/**
 * Runs `work` where `eventContext(id)` finds each event's context: a consumer processes a
 * chunk of events together, and what it does for one of them (a provider call, its in-app
 * row) belongs in that event's trace.
 */
export function withEventContexts<T>(contexts: ReadonlyMap<string, Context>, work: () => T): T {
  if (contexts.size === 0) return work();
  return context.with(context.active().setValue(EVENT_CONTEXTS, contexts), work);
}

/** The context of event `id` in the chunk being processed (see withEventContexts), if traced. */
function eventContext(id: string): Context | undefined {
  return (context.active().getValue(EVENT_CONTEXTS) as ReadonlyMap<string, Context> | undefined)?.get(id);
}

/** Runs `work` in event `id`'s context, when there is one. */
export function inEventContext<T>(id: string, work: () => T): T {
  const found = eventContext(id);
  return found ? context.with(found, work) : work();
}
