/**
 * The catalog of event types: one self-contained Avro schema, topic and compiled avsc type
 * per event, loaded once from `schemas/`.
 */
import { Type } from 'avsc';
import { UnknownEventTypeError } from '../errors';
import type { EventType } from './generated';
import { assertKnownRules } from './rules';
import {
  collectNamedTypes,
  loadSchemaSources,
  topicFor,
  type AvroRecordSchema,
  type EventDomain,
} from './schema-source';

export interface EventDefinition {
  readonly type: EventType;
  /** Full Avro record name, e.g. `tidings.payment.PaymentSucceeded`. */
  readonly recordName: string;
  readonly domain: EventDomain;
  /** Topic the event is published to unless the producer says otherwise. */
  readonly defaultTopic: string;
  /** Self-contained schema (common types inlined), ready to register as-is. */
  readonly schema: AvroRecordSchema;
  readonly avroType: Type;
}

interface Catalog {
  byType: Map<string, EventDefinition>;
  byRecordName: Map<string, EventDefinition>;
}

let catalog: Catalog | undefined;

function load(): Catalog {
  const byType = new Map<string, EventDefinition>();
  const byRecordName = new Map<string, EventDefinition>();
  for (const source of loadSchemaSources().events) {
    for (const named of collectNamedTypes(source.schema).values()) {
      if (named.type === 'record') for (const field of named.fields) assertKnownRules(field, named.name);
    }
    const definition: EventDefinition = Object.freeze({
      // The generated EventType union is derived from these same files; a test keeps them in step.
      type: source.eventType as EventType,
      recordName: source.recordName,
      domain: source.domain,
      defaultTopic: topicFor(source.domain),
      schema: source.schema,
      avroType: Type.forSchema(source.schema as object as Parameters<typeof Type.forSchema>[0]),
    });
    if (byType.has(definition.type)) throw new Error(`event type ${definition.type} is defined twice`);
    byType.set(definition.type, definition);
    byRecordName.set(definition.recordName, definition);
  }
  return { byType, byRecordName };
}

function current(): Catalog {
  catalog ??= load();
  return catalog;
}

/** The definition of `type`; throws UnknownEventTypeError for anything the schemas do not define. */
export function getEventDefinition(type: string): EventDefinition {
  const definition = current().byType.get(type);
  if (!definition) throw new UnknownEventTypeError(type);
  return definition;
}

export function listEventDefinitions(): EventDefinition[] {
  return [...current().byType.values()];
}

/** Looks a definition up by full Avro record name, e.g. when decoding a message from the registry. */
export function findDefinitionByRecordName(fullName: string): EventDefinition | undefined {
  return current().byRecordName.get(fullName);
}

export function isEventType(type: string): type is EventType {
  return current().byType.has(type);
}
