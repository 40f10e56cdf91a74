import { getEventDefinition } from '../../src/events/catalog';
import type { TypedEvent } from '../../src/events/generated';
import { sampleStream, seededRng } from '../../src/events/samples';
import type { TopicNames } from '../../src/kafka/topics';
import type { EventRegistry } from '../../src/registry/event-registry';

/** One seed for every scenario, so they all measure the same mix of event types and sizes. */
const SEED = 20_240_601;

const streams = new Map<number, TypedEvent[]>();

/** `count` realistic events (mixed auth and payment types), built once per run and size. */
export function benchEvents(count: number): TypedEvent[] {
  let events = streams.get(count);
  if (!events) {
    events = sampleStream(count, { rng: seededRng(SEED), users: 10_000 });
    streams.set(count, events);
  }
  return events;
}

export interface EncodedEvent {
  topic: string;
  key: string;
  /** Confluent wire format, exactly what the SDK puts on the topic. */
  value: Buffer;
}

const encodings = new WeakMap<TypedEvent[], Promise<EncodedEvent[]>>();

/**
 * Encodes events the way the SDK does (registry schema id + catalog Avro type), outside any
 * timing; cached per event list, since several scenarios need the same bytes.
 */
export function encodeEvents(events: TypedEvent[], registry: EventRegistry, topics: TopicNames): Promise<EncodedEvent[]> {
  let encoded = encodings.get(events);
  if (!encoded) {
    encoded = encodeAll(events, registry, topics);
    encodings.set(events, encoded);
  }
  return encoded;
}

async function encodeAll(events: TypedEvent[], registry: EventRegistry, topics: TopicNames): Promise<EncodedEvent[]> {
  const out: EncodedEvent[] = [];
  for (const { type, event } of events) {
    const topic = topics[getEventDefinition(type).domain];
    out.push({ topic, key: event.user_id, value: await registry.encode(type, topic, event) });
  }
  return out;
}

export function averageSize(encoded: EncodedEvent[]): number {
  if (encoded.length === 0) return 0;
  return encoded.reduce((sum, e) => sum + e.value.length, 0) / encoded.length;
}
