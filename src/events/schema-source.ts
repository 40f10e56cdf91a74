/**
 * Reads the Avro contract in `schemas/` and turns each event file into one self-contained
 * schema. Deliberately free of generated types so the type generator can run on schemas
 * that are newer than `generated.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';

export const SCHEMA_DIR = path.join(PACKAGE_ROOT, 'schemas');

export const EVENT_DOMAINS = ['auth', 'payment'] as const;
export type EventDomain = (typeof EVENT_DOMAINS)[number];

const COMMON_DIR = 'common';

export type AvroPrimitive = 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string';

/** A field; `tidings.*` business-rule attributes ride along as extra keys. */
export interface AvroField {
  name: string;
  type: AvroSchema;
  doc?: string;
  default?: unknown;
  [attribute: string]: unknown;
}

export interface AvroRecordSchema {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: AvroField[];
}

export interface AvroEnumSchema {
  type: 'enum';
  name: string;
  namespace?: string;
  doc?: string;
  symbols: string[];
  default?: string;
}

export interface AvroArraySchema {
  type: 'array';
  items: AvroSchema;
}

export interface AvroMapSchema {
  type: 'map';
  values: AvroSchema;
}

export interface AvroAnnotatedPrimitive {
  type: AvroPrimitive;
  logicalType?: string;
}

export type AvroNamedSchema = AvroRecordSchema | AvroEnumSchema;

export type AvroSchema =
  | string
  | AvroSchema[]
  | AvroNamedSchema
  | AvroArraySchema
  | AvroMapSchema
  | AvroAnnotatedPrimitive;

export interface EventSchemaSource {
  /** Short record name, e.g. `PaymentSucceeded`. */
  name: string;
  /** Full record name, e.g. `tidings.payment.PaymentSucceeded`. */
  recordName: string;
  domain: EventDomain;
  /** UPPER_SNAKE event type, e.g. `PAYMENT_SUCCEEDED`. */
  eventType: string;
  file: string;
  /** Self-contained: every referenced common type is inlined. */
  schema: AvroRecordSchema;
}

export interface SchemaSources {
  /** Shared named types in file-name order, fully qualified. */
  common: AvroNamedSchema[];
  /** Event schemas ordered by domain, then record name. */
  events: EventSchemaSource[];
}

const PRIMITIVES: ReadonlySet<string> = new Set<AvroPrimitive>([
  'null',
  'boolean',
  'int',
  'long',
  'float',
  'double',
  'bytes',
  'string',
]);

export function isPrimitive(name: string): name is AvroPrimitive {
  return PRIMITIVES.has(name);
}

/** `TwoFactorEnabled` → `TWO_FACTOR_ENABLED`. */
export function eventTypeOf(recordShortName: string): string {
  return recordShortName
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

export function topicFor(domain: EventDomain): string {
  return `${domain}.events`;
}

export function fullNameOf(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function namespaceOf(fullName: string): string | undefined {
  const dot = fullName.lastIndexOf('.');
  return dot < 0 ? undefined : fullName.slice(0, dot);
}

export function shortNameOf(fullName: string): string {
  return fullName.slice(fullName.lastIndexOf('.') + 1);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read Avro schema ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function avscFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.avsc'))
    .sort()
    .map((file) => path.join(dir, file));
}

/**
 * Inlines named types at their first use and refers to them by full name afterwards, as
 * Avro requires. Each event thus registers as one standalone schema, so neither the
 * registry nor clients in other languages have to support schema references.
 */
function inline(
  schema: AvroSchema,
  namespace: string | undefined,
  library: ReadonlyMap<string, AvroNamedSchema>,
  defined: Set<string>,
): AvroSchema {
  if (typeof schema === 'string') {
    if (isPrimitive(schema)) return schema;
    const fullName = fullNameOf(schema, namespace);
    if (defined.has(fullName)) return fullName;
    const shared = library.get(fullName);
    if (!shared) throw new Error(`unknown Avro type "${schema}" (resolved as ${fullName})`);
    return inline(shared, undefined, library, defined);
  }
  if (Array.isArray(schema)) return schema.map((branch) => inline(branch, namespace, library, defined));
  switch (schema.type) {
    case 'record':
    case 'enum': {
      const fullName = fullNameOf(schema.name, schema.namespace ?? namespace);
      if (defined.has(fullName)) throw new Error(`Avro type ${fullName} is defined twice`);
      defined.add(fullName);
      // The full name carries the namespace, so nested short names still resolve correctly.
      const { namespace: _ignored, ...rest } = schema;
      if (rest.type === 'enum') return { ...rest, name: fullName };
      const inner = namespaceOf(fullName);
      return {
        ...rest,
        name: fullName,
        fields: rest.fields.map((field) => ({ ...field, type: inline(field.type, inner, library, defined) })),
      };
    }
    case 'array':
      return { ...schema, items: inline(schema.items, namespace, library, defined) };
    case 'map':
      return { ...schema, values: inline(schema.values, namespace, library, defined) };
    default:
      return schema;
  }
}

function asNamed(value: unknown, file: string): AvroNamedSchema {
  const candidate = value as Partial<AvroNamedSchema> | null;
  if (!candidate || typeof candidate !== 'object' || (candidate.type !== 'record' && candidate.type !== 'enum')) {
    throw new Error(`${file}: top level must be an Avro record or enum`);
  }
  if (typeof candidate.name !== 'string') throw new Error(`${file}: missing "name"`);
  return candidate as AvroNamedSchema;
}

/** Loads and resolves every schema under `dir`; throws on files that break the layout rules. */
export function loadSchemaSources(dir: string = SCHEMA_DIR): SchemaSources {
  const library = new Map<string, AvroNamedSchema>();
  const common: AvroNamedSchema[] = [];
  for (const file of avscFiles(path.join(dir, COMMON_DIR))) {
    const named = asNamed(readJson(file), file);
    const fullName = fullNameOf(named.name, named.namespace);
    library.set(fullName, named);
  }
  // Resolve common types against each other too, so codegen sees them complete.
  for (const named of library.values()) {
    common.push(inline(named, undefined, library, new Set()) as AvroNamedSchema);
  }

  const events: EventSchemaSource[] = [];
  for (const domain of EVENT_DOMAINS) {
    for (const file of avscFiles(path.join(dir, domain))) {
      const named = asNamed(readJson(file), file);
      if (named.type !== 'record') throw new Error(`${file}: an event schema must be a record`);
      const expectedNamespace = `tidings.${domain}`;
      if (named.namespace !== expectedNamespace) {
        throw new Error(`${file}: namespace must be "${expectedNamespace}"`);
      }
      if (`${named.name}.avsc` !== path.basename(file)) throw new Error(`${file}: file name must match record name`);
      events.push({
        name: named.name,
        recordName: fullNameOf(named.name, named.namespace),
        domain,
        eventType: eventTypeOf(named.name),
        file,
        schema: inline(named, undefined, library, new Set()) as AvroRecordSchema,
      });
    }
  }
  return { common, events };
}

/** Every record and enum defined inside `schema`, keyed by full name. */
export function collectNamedTypes(schema: AvroSchema, into = new Map<string, AvroNamedSchema>()): Map<string, AvroNamedSchema> {
  if (typeof schema === 'string') return into;
  if (Array.isArray(schema)) {
    for (const branch of schema) collectNamedTypes(branch, into);
    return into;
  }
  switch (schema.type) {
    case 'record':
      into.set(schema.name, schema);
      for (const field of schema.fields) collectNamedTypes(field.type, into);
      break;
    case 'enum':
      into.set(schema.name, schema);
      break;
    case 'array':
      collectNamedTypes(schema.items, into);
      break;
    case 'map':
      collectNamedTypes(schema.values, into);
      break;
  }
  return into;
}
