import type { EventMap, EventType } from '../src/events/generated';
import type { PublishOptions, PublishResult, Publisher } from '../src/producer/publisher';

/** `PASSWORD_RESET_REQUESTED` → `passwordResetRequested`. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;

/** One typed function per event type, derived from the generated types (no list kept by hand). */
export type TypedProducer<T extends EventType> = {
  [K in T as CamelCase<K>]: (event: EventMap[K], options?: PublishOptions) => Promise<PublishResult>;
};

export function camelCase(type: string): string {
  return type.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function createTypedProducer<T extends EventType>(publisher: Publisher, types: readonly T[]): TypedProducer<T> {
  const producer: Record<string, (event: EventMap[T], options?: PublishOptions) => Promise<PublishResult>> = {};
  for (const type of types) producer[camelCase(type)] = (event, options) => publisher.publish(type, event, options);
  // The keys are built from the same camelCase rule the mapped type applies.
  return producer as unknown as TypedProducer<T>;
}
