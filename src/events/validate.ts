/**
 * Validates an event payload against its Avro schema and the schema's `tidings.*` rules,
 * reporting the first bad field by dotted path (`items[2].quantity`).
 */
import { Type, types as avroTypes } from 'avsc';
import { EventValidationError } from '../errors';
import { getEventDefinition } from './catalog';
import type { EventMap, EventType } from './generated';
import { checkRules } from './rules';
import { collectNamedTypes, fullNameOf, isPrimitive, type AvroNamedSchema, type AvroSchema } from './schema-source';

type Path = ReadonlyArray<string | number>;

interface Problem {
  path: Path;
  reason: string;
}

function formatPath(path: Path): string {
  return path.reduce<string>((out, segment) => {
    if (typeof segment === 'number' || /^\d+$/.test(segment)) return `${out}[${segment}]`;
    return out ? `${out}.${segment}` : segment;
  }, '');
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return String(value);
  return typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectation(type: Type): string {
  if (type instanceof avroTypes.EnumType) return `one of ${type.symbols.join(', ')}`;
  if (type instanceof avroTypes.UnwrappedUnionType || type instanceof avroTypes.WrappedUnionType) {
    return type.types.map(expectation).join(' or ');
  }
  if (type instanceof avroTypes.RecordType) return `a ${type.name ?? 'record'} record`;
  if (type instanceof avroTypes.ArrayType) return 'an array';
  switch (type.typeName) {
    case 'null':
      return 'null';
    case 'int':
      return 'a 32-bit integer';
    case 'long':
      return 'a safe integer';
    default:
      return `a ${type.typeName}`;
  }
}

function avroReason(value: unknown, type: Type): string {
  if (value === undefined) return 'is required';
  const got = typeof value === 'string' && type instanceof avroTypes.EnumType ? JSON.stringify(value) : describeValue(value);
  return `must be ${expectation(type)} (got ${got})`;
}

/** The Avro type check; avsc reports every bad leaf, we keep the first. */
function schemaProblem(avroType: Type, payload: unknown): Problem | undefined {
  let first: Problem | undefined;
  avroType.isValid(payload, {
    errorHook: (path, value, type) => {
      first ??= { path, reason: avroReason(value, type) };
    },
  });
  return first;
}

/** Prefixes a problem found inside a child with the child's key; paths are only built on failure. */
function within(segment: string | number, problem: Problem | undefined): Problem | undefined {
  return problem && { path: [segment, ...problem.path], reason: problem.reason };
}

const declaredFields = new WeakMap<object, ReadonlySet<string>>();

/**
 * Walks the value alongside the schema JSON (which carries the rule attributes avsc
 * drops). `undeclared` reports keys the schema does not know; otherwise it checks rules.
 */
function walk(
  schema: AvroSchema,
  value: unknown,
  named: ReadonlyMap<string, AvroNamedSchema>,
  mode: 'undeclared' | 'rules',
): Problem | undefined {
  if (typeof schema === 'string') {
    if (isPrimitive(schema)) return undefined;
    const target = named.get(fullNameOf(schema, undefined));
    return target ? walk(target, value, named, mode) : undefined;
  }
  if (Array.isArray(schema)) {
    // Rules apply to the one non-null branch of a nullable union; null has nothing to check.
    if (value === null) return undefined;
    let only: AvroSchema | undefined;
    for (const branch of schema) {
      if (branch === 'null') continue;
      if (only !== undefined) return undefined;
      only = branch;
    }
    return only === undefined ? undefined : walk(only, value, named, mode);
  }
  if (schema.type === 'array') {
    if (!Array.isArray(value)) return undefined;
    for (let index = 0; index < value.length; index++) {
      const problem = within(index, walk(schema.items, value[index], named, mode));
      if (problem) return problem;
    }
    return undefined;
  }
  if (schema.type !== 'record' || !isPlainObject(value)) return undefined;
  if (mode === 'undeclared') {
    let declared = declaredFields.get(schema);
    if (!declared) {
      declared = new Set(schema.fields.map((field) => field.name));
      declaredFields.set(schema, declared);
    }
    // Undefined values count as absent, as they would after JSON serialisation.
    for (const key in value) {
      if (!declared.has(key) && value[key] !== undefined) {
        return { path: [key], reason: `is not a field of ${schema.name} (check the spelling)` };
      }
    }
  }
  for (const field of schema.fields) {
    const fieldValue = value[field.name];
    if (fieldValue === undefined || fieldValue === null) continue;
    if (mode === 'rules') {
      const reason = checkRules(field, fieldValue);
      if (reason) return { path: [field.name], reason };
    }
    const problem = within(field.name, walk(field.type, fieldValue, named, mode));
    if (problem) return problem;
  }
  return undefined;
}

const namedTypesCache = new WeakMap<object, Map<string, AvroNamedSchema>>();

/**
 * Throws EventValidationError naming the first bad field, or UnknownEventTypeError.
 * Unknown fields are rejected too: Avro would silently drop them, hiding producer typos.
 */
export function validateEvent(type: string, payload: unknown): void {
  const definition = getEventDefinition(type);
  if (!isPlainObject(payload)) {
    throw new EventValidationError(type, '(event)', `must be an object (got ${describeValue(payload)})`);
  }
  let named = namedTypesCache.get(definition.schema);
  if (!named) {
    named = collectNamedTypes(definition.schema);
    namedTypesCache.set(definition.schema, named);
  }
  const problem =
    walk(definition.schema, payload, named, 'undeclared') ??
    schemaProblem(definition.avroType, payload) ??
    walk(definition.schema, payload, named, 'rules');
  if (problem) throw new EventValidationError(type, formatPath(problem.path), problem.reason);
}

/** Type guard form of validateEvent for callers that prefer a boolean. */
export function isValidEvent<T extends EventType>(type: T, payload: unknown): payload is EventMap[T] {
  try {
    validateEvent(type, payload);
    return true;
  } catch (error) {
    if (error instanceof EventValidationError) return false;
    throw error;
  }
}
