import { randomFillSync } from 'node:crypto';
import { TraceFlags, isSpanContextValid, type SpanContext } from '@opentelemetry/api';

/** W3C Trace Context: `00-<trace id>-<parent span id>-<flags>`. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Ids come from a pool of random bytes refilled in one call: every published event needs a
 * span id, and a randomBytes call per id cost the publisher ~15 % of its CPU.
 */
const pool = Buffer.allocUnsafe(8 * 1024);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += bytes;
  return pool.toString('hex', poolOffset - bytes, poolOffset);
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** `00-<32 hex trace id>-<16 hex span id>-01`, rewritten in place for every new root context. */
const rootTemplate = Buffer.from(`00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`, 'latin1');

/**
 * A new sampled root context, for events published outside any trace. Hex digits are
 * written into a template so each id is one flat string: building it from slices left five
 * short-lived strings per published event for the garbage collector.
 */
export function newTraceparent(): string {
  if (poolOffset + 24 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let out = 3;
  for (let i = 0; i < 24; i++) {
    if (i === 16) out++; // the dash between trace id and span id
    const byte = pool[poolOffset + i] as number;
    rootTemplate[out++] = HEX_DIGITS[byte >> 4] as number;
    rootTemplate[out++] = HEX_DIGITS[byte & 15] as number;
  }
  poolOffset += 24;
  return rootTemplate.toString('latin1');
}

/** A child span of `parent` in the same trace (or a new root when `parent` is missing or invalid). */
export function childTraceparent(parent: string | undefined): string {
  const match = parent ? TRACEPARENT.exec(parent) : null;
  if (!match) return newTraceparent();
  return `00-${match[1]}-${randomHex(8)}-${match[3]}`;
}

/** The span context a `traceparent` header names (remote), or undefined when it is missing or malformed. */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  const match = header ? TRACEPARENT.exec(header) : null;
  if (!match) return undefined;
  const span: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(span) ? span : undefined;
}

/** The `traceparent` header of a span context. */
export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${span.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}
