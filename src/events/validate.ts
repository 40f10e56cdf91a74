/**
 * Validates an event payload against its Avro schema and the schema's `tidings.*` rules,
 * reporting the first bad field by dotted path (`items[2].quantity`).
 *
 * Two layers: a check compiled once per event type answers "valid or not" without building
 * paths or messages (the publish hot path), and only when it says no does the diagnostic
 * walk below find the first bad field. The diagnosis is the reference: the compiled check is
 * never more lenient than it, and an event it rejects that the diagnosis accepts is accepted.
 */
import { Type, types as avroTypes } from 'avsc';
import { EventValidationError } from '../errors';
import { getEventDefinition, type EventDefinition } from './catalog';
import type { EventMap, EventType } from './generated';
import { ruleProblem, rulesOf, type FieldRules } from './rules';
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
    for (const key of Object.keys(value)) {
      if (!declared.has(key) && value[key] !== undefined) {
        return { path: [key], reason: `is not a field of ${schema.name} (check the spelling)` };
      }
    }
  }
  for (const field of schema.fields) {
    const fieldValue = value[field.name];
    if (fieldValue === undefined || fieldValue === null) continue;
    if (mode === 'rules') {
      const rules = rulesOf(field);
      const reason = rules && ruleProblem(rules, fieldValue);
      if (reason) return { path: [field.name], reason };
    }
    const problem = within(field.name, walk(field.type, fieldValue, named, mode));
    if (problem) return problem;
  }
  return undefined;
}

/** Answers whether a value is valid at one position of the schema; never builds a message. */
type Check = (value: unknown) => boolean;

/** Constructs the fast check does not model; the diagnostic walk decides for them. */
const askDiagnosis: Check = () => false;

const isString: Check = (value) => typeof value === 'string';
const isBoolean: Check = (value) => typeof value === 'boolean';
const isNumber: Check = (value) => typeof value === 'number';
const isNull: Check = (value) => value === null;
const isInt: Check = (value) => value === ((value as number) | 0);
// avsc's own bound for longs that survive a round trip through a double.
const isSafeLong: Check = (value) =>
  typeof value === 'number' && value % 1 === 0 && value >= -9007199254740990 && value <= 9007199254740990;

const PRIMITIVE_CHECKS: Readonly<Record<string, Check>> = {
  null: isNull,
  boolean: isBoolean,
  int: isInt,
  long: isSafeLong,
  float: isNumber,
  double: isNumber,
  bytes: (value) => Buffer.isBuffer(value),
  string: isString,
};

interface CompiledField {
  name: string;
  /** Avro lets a field with a default be left out. */
  optional: boolean;
  check: Check;
  rules: FieldRules | undefined;
}

/** Compiles the checks of one event schema; named types are compiled once and may recurse. */
class CheckCompiler {
  private readonly byName = new Map<string, Check>();

  constructor(private readonly named: ReadonlyMap<string, AvroNamedSchema>) {}

  compile(schema: AvroSchema): Check {
    if (typeof schema === 'string') {
      const primitive = PRIMITIVE_CHECKS[schema];
      if (primitive) return primitive;
      const cached = this.byName.get(schema);
      if (cached) return cached;
      const target = this.named.get(schema);
      if (!target) return askDiagnosis;
      // Registered before compiling the body, so a recursive reference finds it.
      let body: Check = askDiagnosis;
      this.byName.set(schema, (value) => body(value));
      body = this.compileNamed(target);
      this.byName.set(schema, body);
      return body;
    }
    if (Array.isArray(schema)) {
      const branches = schema.filter((branch) => branch !== 'null');
      const only = branches[0];
      if (branches.length !== 1 || only === undefined || branches.length === schema.length) return askDiagnosis;
      const inner = this.compile(only);
      return (value) => value === null || inner(value);
    }
    switch (schema.type) {
      case 'record':
      case 'enum':
        return this.compile(schema.name);
      case 'array': {
        const items = this.compile(schema.items);
        return (value) => {
          if (!Array.isArray(value)) return false;
          for (let i = 0; i < value.length; i++) if (!items(value[i])) return false;
          return true;
        };
      }
      case 'map':
        return askDiagnosis;
      default:
        return PRIMITIVE_CHECKS[schema.type] ?? askDiagnosis;
    }
  }

  private compileNamed(schema: AvroNamedSchema): Check {
    if (schema.type === 'enum') {
      const symbols: ReadonlySet<unknown> = new Set(schema.symbols);
      return (value) => symbols.has(value);
    }
    // A prototype-less object rather than a Set: one property lookup per key is several times cheaper.
    const declared = Object.create(null) as Record<string, true | undefined>;
    for (const field of schema.fields) declared[field.name] = true;
    const fields: CompiledField[] = schema.fields.map((field) => ({
      name: field.name,
      optional: field.default !== undefined,
      check: this.compile(field.type),
      rules: rulesOf(field),
    }));
    return (value) => {
      if (!isPlainObject(value)) return false;
      // Own keys, as Object.keys in the diagnosis, but without allocating a key array per record.
      for (const key in value) if (declared[key] !== true && Object.hasOwn(value, key) && value[key] !== undefined) return false;
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i] as CompiledField;
        const fieldValue = value[field.name];
        if (fieldValue === undefined) {
          if (field.optional) continue;
          return false;
        }
        if (!field.check(fieldValue)) return false;
        if (field.rules !== undefined && fieldValue !== null && ruleProblem(field.rules, fieldValue) !== undefined) return false;
      }
      return true;
    };
  }
}

interface CompiledEvent {
  named: ReadonlyMap<string, AvroNamedSchema>;
  check: Check;
}

const compiledEvents = new WeakMap<EventDefinition, CompiledEvent>();

function compiledFor(definition: EventDefinition): CompiledEvent {
  let compiled = compiledEvents.get(definition);
  if (!compiled) {
    const named = collectNamedTypes(definition.schema);
    compiled = { named, check: new CheckCompiler(named).compile(definition.schema) };
    compiledEvents.set(definition, compiled);
  }
  return compiled;
}

/** The first bad field, in the order users have always seen: unknown keys, Avro types, then rules. */
function diagnose(definition: EventDefinition, named: ReadonlyMap<string, AvroNamedSchema>, payload: Record<string, unknown>): Problem | undefined {
  return (
    walk(definition.schema, payload, named, 'undeclared') ??
    schemaProblem(definition.avroType, payload) ??
    walk(definition.schema, payload, named, 'rules')
  );
}

/**
 * Throws EventValidationError naming the first bad field, or UnknownEventTypeError.
 * Unknown fields are rejected too: Avro would silently drop them, hiding producer typos.
 */
export function validateEvent(type: string, payload: unknown): void {
  const definition = getEventDefinition(type);
  if (!isPlainObject(payload)) {
    throw new EventValidationError(type, '(event)', `must be an object (got ${describeValue(payload)})`);
  }
  const { named, check } = compiledFor(definition);
  if (check(payload)) return;
  const problem = diagnose(definition, named, payload);
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
