import { SpanKind, SpanStatusCode, type HrTime } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR } from './tracing';

/**
 * `tidings demo --otel-console`: the finished spans of this process kept in memory (no
 * collector needed), and one trace printed as an indented tree. At most `limit` spans are
 * kept; later ones are dropped, so a long demo cannot grow memory.
 */
export class SpanCapture implements SpanProcessor {
  private readonly spans: ReadableSpan[] = [];

  constructor(private readonly limit = 100_000) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.spans.length < this.limit) this.spans.push(span);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  /** The trace id of the span that published event `eventId`, once it has ended. */
  traceOfEvent(eventId: string): string | undefined {
    return this.spans.find((s) => s.kind === SpanKind.PRODUCER && s.attributes[ATTR.messageId] === eventId)?.spanContext().traceId;
  }

  /** Every finished span of trace `traceId`. */
  trace(traceId: string): ReadableSpan[] {
    return this.spans.filter((s) => s.spanContext().traceId === traceId);
  }
}

/**
 * The spans of one trace as an indented tree, one line per span: name, consumer group or
 * provider, service and duration, children in start order. A span whose parent is not among
 * them (it ended later, or lives in another process) is shown at the top level.
 */
export function formatTraceTree(spans: readonly ReadableSpan[]): string[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const span of [...spans].sort((a, b) => nanos(a.startTime) - nanos(b.startTime))) {
    const parent = span.parentSpanContext?.spanId;
    const key = parent !== undefined && ids.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), span]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, indent: string): void => {
    const below = children.get(parent) ?? [];
    below.forEach((span, i) => {
      const last = i === below.length - 1;
      const branch = parent === undefined ? '' : last ? '└─ ' : '├─ ';
      lines.push(`${indent}${branch}${describeSpan(span)}`);
      walk(span.spanContext().spanId, parent === undefined ? indent : `${indent}${last ? '   ' : '│  '}`);
    });
  };
  walk(undefined, '');
  return lines;
}

function describeSpan(span: ReadableSpan): string {
  const detail = span.attributes[ATTR.consumerGroup] ?? span.attributes[ATTR.provider];
  const service = span.resource.attributes['service.name'];
  const failed = span.status.code === SpanStatusCode.ERROR ? ' ✗' : '';
  const ms = nanos(span.duration) / 1e6;
  return `${span.name}${detail === undefined ? '' : ` [${String(detail)}]`}  ${String(service ?? '')}  ${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)} ms${failed}`;
}

function nanos(time: HrTime): number {
  return time[0] * 1e9 + time[1];
}
