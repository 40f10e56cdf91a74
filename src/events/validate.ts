/**
 * Validates an event payload against its Avro schema and the schema's `tidings.*` rules,
 * reporting the first bad field by dotted path (`items[2].quantity`), and refuses card data
 * (src/events/card-data.ts) before anything else.
 *
 * Two layers: a check compiled once per event type answers "valid or not" without building
 * paths or messages (the publish hot path), and only when it says no does the diagnostic
 * walk below find the first bad field. The diagnosis is the reference: the compiled check is
 * never more lenient than it, and an event it rejects that the diagnosis accepts is accepted.
 * The compiled check also scans each string for a card number, so that costs no second walk.
 */
import { Type, types as avroTypes } from 'avsc';
import { EventValidationError } from '../errors';
import { hasCardNumber, isSecretFieldName, refuseCardData } from './card-data';
import { getEventDefinition, type EventDefinition } from './catalog';
import { ruleProblem, rulesOf, type FieldRules } from './rules';
import {
  collectNamedTypes,
  fullNameOf,
  isPrimitive,
  type AvroEnumSchema,
  type AvroField,
  type AvroNamedSchema,
  type AvroRecordSchema,
  type AvroSchema,
} from './schema-source';

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

/** Answers whether a payload is valid; never builds a message. */
type Check = (value: unknown) => boolean;

/** The Avro type checks of the primitives, as expressions over a variable `x`. */
const PRIMITIVE_TESTS: Readonly<Record<string, (x: string) => string>> = {
  null: (x) => `${x} === null`,
  boolean: (x) => `typeof ${x} === 'boolean'`,
  int: (x) => `${x} === (${x} | 0)`,
  // avsc's own bound for longs that survive a round trip through a double.
  long: (x) => `typeof ${x} === 'number' && ${x} % 1 === 0 && ${x} >= -9007199254740990 && ${x} <= 9007199254740990`,
  float: (x) => `typeof ${x} === 'number'`,
  double: (x) => `typeof ${x} === 'number'`,
  bytes: (x) => `isBuffer(${x})`,
  // A card number fails the check too (refuseCardData then names it): no second walk over the event.
  string: (x) => `typeof ${x} === 'string' && !hasCardNumber(${x})`,
};

/** Constructs the fast check does not model: it says no, and the diagnostic walk decides. */
const ASK_DIAGNOSIS = '  return false;';

/**
 * Generates the check of one event schema as code, once: a function per record or enum with
 * its field names, rules and formats written in, so checking an event walks no field lists
 * and reads each field straight off its object. Named types may recurse.
 */
class CheckCompiler {
  private readonly functions: string[] = [];
  private readonly byName = new Map<string, string>();
  private readonly constants: unknown[] = [];
  private variables = 0;

  constructor(private readonly named: ReadonlyMap<string, AvroNamedSchema>) {}

  compile(root: AvroSchema): Check {
    const entry = 'checkEvent';
    this.functions.push(`function ${entry}(value) {\n${this.statements(root, 'value')}\n  return true;\n}`);
    const source = `'use strict';\n${this.functions.join('\n')}\nreturn ${entry};`;
    const names = ['isArray', 'isBuffer', 'hasOwn', 'hasCardNumber', ...this.constants.map((_, i) => `k${i}`)];
    // Generated from the schema alone: no value ever reaches the source text.
    const factory = new Function(...names, source) as (...args: unknown[]) => Check;
    return factory(Array.isArray, Buffer.isBuffer, Object.hasOwn, hasCardNumber, ...this.constants);
  }

  private constant(value: unknown): string {
    this.constants.push(value);
    return `k${this.constants.length - 1}`;
  }

  /** Statements that return false unless the value in variable `x` is valid. */
  private statements(schema: AvroSchema, x: string): string {
    if (typeof schema === 'string') {
      const primitive = PRIMITIVE_TESTS[schema];
      if (primitive) return `  if (!(${primitive(x)})) return false;`;
      const check = this.namedFunction(schema);
      return check ? `  if (!${check}(${x})) return false;` : ASK_DIAGNOSIS;
    }
    if (Array.isArray(schema)) {
      const branches = schema.filter((branch) => branch !== 'null');
      const only = branches[0];
      if (branches.length !== 1 || only === undefined || branches.length === schema.length) return ASK_DIAGNOSIS;
      return `  if (${x} !== null) {\n${this.statements(only, x)}\n  }`;
    }
    switch (schema.type) {
      case 'record':
      case 'enum':
        return this.statements(schema.name, x);
      case 'array': {
        const [index, item] = [`v${this.variables++}`, `v${this.variables++}`];
        return (
          `  if (!isArray(${x})) return false;\n` +
          `  for (let ${index} = 0; ${index} < ${x}.length; ${index}++) {\n    const ${item} = ${x}[${index}];\n` +
          `${this.statements(schema.items, item)}\n  }`
        );
      }
      case 'map':
        return ASK_DIAGNOSIS;
      default: {
        const primitive = PRIMITIVE_TESTS[schema.type];
        return primitive ? `  if (!(${primitive(x)})) return false;` : ASK_DIAGNOSIS;
      }
    }
  }

  /** The function checking a named type, generated on first use (named first, so recursion works). */
  private namedFunction(name: string): string | undefined {
    const existing = this.byName.get(name);
    if (existing) return existing;
    const schema = this.named.get(name);
    if (!schema) return undefined;
    const fn = `check${this.functions.length}_${name.replace(/\W/g, '_')}`;
    this.byName.set(name, fn);
    const index = this.functions.push('') - 1;
    this.functions[index] = schema.type === 'enum' ? this.enumFunction(fn, schema) : this.recordFunction(fn, schema);
    return fn;
  }

  private enumFunction(fn: string, schema: AvroEnumSchema): string {
    return `function ${fn}(value) {\n  return ${this.constant(new Set(schema.symbols))}.has(value);\n}`;
  }

  /**
   * One pass over the record's keys: a for-in reads each value by the key it enumerates, which
   * V8 turns into a direct field load even when every object has a hidden class of its own (as
   * objects built with a spread and more properties do); reading `value.name` on those costs
   * a full property look-up each. Fields the loop did not see (absent, inherited or not
   * enumerable) are then read by name, as before.
   */
  private recordFunction(fn: string, schema: AvroRecordSchema): string {
    const fields = schema.fields.map((field, index) => ({
      field,
      seen: `seen${index >> 5}`,
      bit: `0x${((1 << (index & 31)) >>> 0).toString(16)}`,
    }));
    const masks = [...new Set(fields.map(({ seen }) => seen))];
    const cases = fields.map(
      ({ field, seen, bit }) => `      case ${JSON.stringify(field.name)}: {\n        ${seen} |= ${bit};\n${this.fieldStatements(field, 'x')}\n        continue;\n      }`,
    );
    const unseen = fields.map(({ field, seen, bit }) => {
      const x = `v${this.variables++}`;
      return `  if ((${seen} & ${bit}) === 0) {\n    const ${x} = value[${JSON.stringify(field.name)}];\n${this.fieldStatements(field, x)}\n  }`;
    });
    return [
      `function ${fn}(value) {`,
      `  if (typeof value !== 'object' || value === null || isArray(value)) return false;`,
      ...masks.map((mask) => `  let ${mask} = 0;`),
      `  for (const key in value) {`,
      `    const x = value[key];`,
      `    switch (key) {\n${cases.join('\n')}\n    }`,
      // Own keys only, as Object.keys in the diagnosis; undefined counts as absent.
      `    if (x !== undefined && hasOwn(value, key)) return false;`,
      `  }`,
      ...unseen,
      `  return true;`,
      `}`,
    ].join('\n');
  }

  /** A field's type and rule checks on the value in `x`; Avro lets a field with a default be left out. */
  private fieldStatements(field: AvroField, x: string): string {
    const checks = `${this.statements(field.type, x)}\n${this.ruleStatements(rulesOf(field), x)}`;
    if (field.default !== undefined) return `  if (${x} !== undefined) {\n${checks}\n  }`;
    return `  if (${x} === undefined) return false;\n${checks}`;
  }

  /** `ruleProblem(rules, x) !== undefined` as code (null passes, as it has no rules to meet). */
  private ruleStatements(rules: FieldRules | undefined, x: string): string {
    if (rules === undefined) return '';
    const out: string[] = [];
    if (rules.min !== undefined) out.push(`  if (typeof ${x} === 'number' && ${x} < ${rules.min}) return false;`);
    const text: string[] = [];
    if (rules.minLength !== undefined) text.push(`    if (${x}.length < ${rules.minLength}) return false;`);
    if (rules.format !== undefined) text.push(`    if (!${this.constant(rules.format.test)}(${x})) return false;`);
    if (text.length > 0) out.push(`  if (typeof ${x} === 'string') {\n${text.join('\n')}\n  }`);
    return out.join('\n');
  }
}

interface CompiledEvent {
  definition: EventDefinition;
  named: ReadonlyMap<string, AvroNamedSchema>;
  check: Check;
  /**
   * No field of the schema is named like a card secret: an event that passes `check` (which
   * scans its strings) has no other keys, and no map, whose keys would be data.
   */
  fieldNamesSafe: boolean;
}

/** By event type: the catalog is loaded once, and one map look-up is all a valid event costs. */
const compiledEvents = new Map<string, CompiledEvent>();

function compiledFor(type: string): CompiledEvent {
  let compiled = compiledEvents.get(type);
  if (!compiled) {
    const definition = getEventDefinition(type);
    const named = collectNamedTypes(definition.schema);
    const fieldNames = [...named.values()].flatMap((t) => (t.type === 'record' ? t.fields.map((f) => f.name) : []));
    compiled = { definition, named, check: new CheckCompiler(named).compile(definition.schema), fieldNamesSafe: !fieldNames.some(isSecretFieldName) };
    compiledEvents.set(type, compiled);
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
 * Card data comes first (CardDataError, naming every such field): a card number is refused
 * as such wherever it is, even in a field whose format it breaks anyway (`card_last4`), and
 * so is a `cvv` field, which is also not in any schema.
 */
export function validateEvent(type: string, payload: unknown): void {
  const { definition, named, check, fieldNamesSafe } = compiledFor(type);
  if (check(payload)) {
    if (!fieldNamesSafe) refuseCardData(type, payload);
    return;
  }
  refuseCardData(type, payload);
  if (!isPlainObject(payload)) {
    throw new EventValidationError(type, '(event)', `must be an object (got ${describeValue(payload)})`);
  }
  const problem = diagnose(definition, named, payload);
  if (problem) throw new EventValidationError(type, formatPath(problem.path), problem.reason);
}

