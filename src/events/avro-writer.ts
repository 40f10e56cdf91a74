/**
 * A fast Avro binary writer: one function per avsc type, generated once, that writes a value
 * straight into a caller's buffer. Field names, defaults, enum symbols and union branches are
 * written into the generated code, so writing an event is mostly a run of byte stores (avsc
 * goes through a Tap and a type object per value).
 *
 * The output is byte for byte avsc's. A writer only writes values it can encode exactly as
 * avsc would; for anything else (an invalid value, or a corner where avsc has its own quirks)
 * it throws, and the caller lets avsc encode it, or reject it with avsc's own error.
 */
import type { Type, types as avroTypes } from 'avsc';
import { TidingsError } from '../errors';

/**
 * Writes `value` at `pos` and returns the end position. Bytes that would fall past the end of
 * `buf` are not written, but still counted: an end beyond `buf.length` says how much room the
 * value needs.
 */
export type AvroWriter = (buf: Buffer, pos: number, value: unknown) => number;

/** A schema construct the writer has no code for (logical and custom long types). */
export class UnsupportedAvroTypeError extends TidingsError {
  constructor(typeName: string, where: string) {
    super('AVRO_TYPE_UNSUPPORTED', `the fast Avro writer does not support ${typeName} (at ${where})`);
  }
}

/** A value the writer leaves to avsc, which encodes it or rejects it with its own error. */
export class AvroValueRejected extends TidingsError {
  constructor(where: string) {
    super('AVRO_VALUE_REJECTED', `the fast Avro writer leaves the value at ${where} to avsc`);
  }
}

/** Node's UTF-8 encoder behind `buf.write` (avsc calls it too), without write's argument juggling. */
interface NodeBuffer extends Buffer {
  utf8Write(s: string, offset: number, length?: number): number;
}

/** Largest long avsc writes (it refuses the last few integers below 2^53). */
const MAX_SAFE_LONG = 9007199254740990;

/** Zig-zag varint of an integer, byte for byte as avsc writes it. */
function writeLong(buf: Buffer, pos: number, n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) {
    let zigzag = (n << 1) ^ (n >> 31);
    while (zigzag > 0x7f) {
      buf[pos++] = (zigzag & 0x7f) | 0x80;
      zigzag >>>= 7;
    }
    buf[pos++] = zigzag;
    return pos;
  }
  // 32 to 54 bits, in a double computed as avsc computes it (past 2^53 both round alike).
  // Split in two so the rest is integer arithmetic: a loop of divisions costs 4x more.
  const zigzag = n >= 0 ? n * 2 : -n * 2 - 1;
  let high = Math.floor(zigzag / 0x10000000);
  const low = zigzag - high * 0x10000000;
  buf[pos++] = (low & 0x7f) | 0x80;
  buf[pos++] = ((low >>> 7) & 0x7f) | 0x80;
  buf[pos++] = ((low >>> 14) & 0x7f) | 0x80;
  buf[pos++] = ((low >>> 21) & 0x7f) | 0x80;
  while (high > 0x7f) {
    buf[pos++] = (high & 0x7f) | 0x80;
    high >>>= 7;
  }
  buf[pos++] = high;
  return pos;
}

/** Below this many chars a char-code loop beats a call into Node's UTF-8 encoder. */
const SHORT_STRING = 32;

/**
 * A length-prefixed string. Most strings are ASCII, whose byte count is their length, so the
 * prefix can be written first; anything else is counted, then written by Node.
 */
function writeString(buf: Buffer, pos: number, s: string): number {
  const length = s.length;
  if (length >= SHORT_STRING) return writeLongString(buf, pos, s);
  buf[pos] = length << 1;
  const start = pos + 1;
  let seen = 0;
  for (let i = 0; i < length; i++) {
    const code = s.charCodeAt(i);
    seen |= code;
    buf[start + i] = code;
  }
  return seen > 0x7f ? writeUtf8(buf, pos, s) : start + length;
}

function writeLongString(buf: Buffer, pos: number, s: string): number {
  const length = s.length;
  const prefix = length < 64 ? 1 : length < 8192 ? 2 : 0;
  if (prefix === 0 || pos + prefix + 3 * length > buf.length) return writeUtf8(buf, pos, s);
  // One byte per char only when every char is ASCII; otherwise start again, counting first.
  if ((buf as NodeBuffer).utf8Write(s, pos + prefix) !== length) return writeUtf8(buf, pos, s);
  writeLong(buf, pos, length);
  return pos + prefix + length;
}

function writeUtf8(buf: Buffer, pos: number, s: string): number {
  const length = Buffer.byteLength(s);
  // avsc writes short strings with its own encoder, which turns a lone surrogate into three
  // bytes that are not UTF-8 (Node writes U+FFFD); avsc keeps the last word on those.
  if (length <= 64 && hasLoneSurrogate(s)) throw new AvroValueRejected('a string with a lone surrogate');
  const start = writeLong(buf, pos, length);
  if (start + length <= buf.length) (buf as NodeBuffer).utf8Write(s, start, length);
  return start + length;
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    if (code > 0xdbff || i + 1 === s.length) return true;
    const next = s.charCodeAt(i + 1);
    if (next < 0xdc00 || next > 0xdfff) return true;
    i++;
  }
  return false;
}

/** Raw bytes (fixed values, field defaults); nothing is written unless all of them fit. */
function writeRaw(buf: Buffer, pos: number, bytes: Buffer): number {
  const end = pos + bytes.length;
  if (end <= buf.length) bytes.copy(buf, pos);
  return end;
}

function writeBytes(buf: Buffer, pos: number, bytes: Buffer): number {
  return writeRaw(buf, writeLong(buf, pos, bytes.length), bytes);
}

function writeFloat(buf: Buffer, pos: number, value: number): number {
  if (pos + 4 <= buf.length) buf.writeFloatLE(value, pos);
  return pos + 4;
}

function writeDouble(buf: Buffer, pos: number, value: number): number {
  if (pos + 8 <= buf.length) buf.writeDoubleLE(value, pos);
  return pos + 8;
}

function reject(where: string): never {
  throw new AvroValueRejected(where);
}

/** What the generated code calls, by these names. */
const HELPERS = {
  writeLong,
  writeString,
  writeRaw,
  writeBytes,
  writeFloat,
  writeDouble,
  reject,
  isBuffer: Buffer.isBuffer,
  isArray: Array.isArray,
  keys: Object.keys,
};

/** avsc's unwrapped unions pick a branch by the kind of JS value, one branch per kind. */
type Bucket = 'null' | 'boolean' | 'number' | 'string' | 'buffer' | 'array' | 'object';

const BUCKETS: Readonly<Record<string, Bucket>> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  string: 'string',
  enum: 'string',
  bytes: 'buffer',
  fixed: 'buffer',
  array: 'array',
  map: 'object',
  record: 'object',
};

function bucketOf(type: Type, where: string): Bucket {
  const bucket = BUCKETS[type.typeName];
  if (bucket === undefined) throw new UnsupportedAvroTypeError(`${type.typeName} in a union`, where);
  return bucket;
}

/** A test that a value (in `x`) falls in a bucket; `null` is tested before the others. */
function bucketTest(bucket: Bucket, x: string): string {
  switch (bucket) {
    case 'null':
      return `${x} === null`;
    case 'buffer':
      return `isBuffer(${x})`;
    case 'array':
      return `isArray(${x})`;
    case 'object':
      return `typeof ${x} === 'object' && ${x} !== null && !isArray(${x}) && !isBuffer(${x})`;
    default:
      return `typeof ${x} === '${bucket}'`;
  }
}

/** Writes a small non-negative count or index as its zig-zag varint. */
function writeIndex(index: number): string {
  return index < 64 ? `buf[pos++] = ${index * 2};` : `pos = writeLong(buf, pos, ${index});`;
}

/** Generates the writer of one root type: a function per record, statements for the rest. */
class WriterCompiler {
  private readonly functions: string[] = [];
  private readonly recordFunctions = new Map<Type, string>();
  private readonly constants: unknown[] = [];
  private variables = 0;

  compile(root: Type): AvroWriter {
    const entry = root.typeName === 'record' ? this.recordFunction(root as avroTypes.RecordType) : this.wrap(root);
    const source = `'use strict';\n${this.functions.join('\n')}\nreturn ${entry};`;
    const names = [...Object.keys(HELPERS), ...this.constants.map((_, i) => `k${i}`)];
    // Generated from the schema alone: no value ever reaches the source text.
    const factory = new Function(...names, source) as (...args: unknown[]) => AvroWriter;
    return factory(...Object.values(HELPERS), ...this.constants);
  }

  private wrap(type: Type): string {
    const name = `write${this.functions.length}`;
    this.functions.push(`function ${name}(buf, pos, value) {\n${this.statements(type, 'value', '(root)')}\n  return pos;\n}`);
    return name;
  }

  private constant(value: unknown): string {
    this.constants.push(value);
    return `k${this.constants.length - 1}`;
  }

  private variable(): string {
    return `v${this.variables++}`;
  }

  /** One function per record type, named before its body is generated so recursion works. */
  private recordFunction(type: avroTypes.RecordType): string {
    const existing = this.recordFunctions.get(type);
    if (existing) return existing;
    const name = `write${(type.name ?? 'Record').replace(/\W/g, '_')}${this.recordFunctions.size}`;
    this.recordFunctions.set(type, name);
    const fields = type.fields.map((field, index) => ({
      field,
      x: this.variable(),
      seen: `seen${index >> 5}`,
      bit: `0x${((1 << (index & 31)) >>> 0).toString(16)}`,
    }));
    // Values are collected in one for-in pass, which V8 turns into direct field loads even when
    // every object has a hidden class of its own (objects built with a spread and more
    // properties do); `record.name` on those costs a full property look-up each. Fields the
    // loop did not see (absent, inherited or not enumerable) are then read by name, as avsc does.
    const body = fields.length === 0 ? [] : [
      `  let ${fields.map(({ x }) => x).join(', ')};`,
      ...[...new Set(fields.map(({ seen }) => seen))].map((seen) => `  let ${seen} = 0;`),
      `  for (const key in record) {\n    switch (key) {`,
      ...fields.map(({ field, x, seen, bit }) => `      case ${JSON.stringify(field.name)}: ${x} = record[key]; ${seen} |= ${bit}; break;`),
      `    }\n  }`,
      ...fields.map(({ field, x, seen, bit }) => `  if ((${seen} & ${bit}) === 0) ${x} = record[${JSON.stringify(field.name)}];`),
    ];
    for (const { field, x } of fields) {
      const where = `${type.name ?? 'record'}.${field.name}`;
      const write = this.statements(field.type, x, where);
      const fallback = field.defaultValue() as unknown;
      if (fallback === undefined) {
        body.push(write);
        continue;
      }
      // avsc writes the field's default for an absent (undefined) value.
      const bytes = field.type.toBuffer(fallback);
      const writeDefault = bytes.length === 1 ? `buf[pos++] = ${bytes[0]};` : `pos = writeRaw(buf, pos, ${this.constant(bytes)});`;
      body.push(`  if (${x} === undefined) ${writeDefault}\n  else {\n${write}\n  }`);
    }
    this.functions.push(`function ${name}(buf, pos, record) {\n${body.join('\n')}\n  return pos;\n}`);
    return name;
  }

  /** Statements that write the value held in variable `x` and advance `pos`. */
  private statements(type: Type, x: string, where: string): string {
    const refuse = `reject(${JSON.stringify(where)})`;
    switch (type.typeName) {
      case 'null':
        return `  if (${x} !== null) ${refuse};`;
      case 'boolean':
        return `  if (typeof ${x} !== 'boolean') ${refuse};\n  buf[pos++] = ${x} ? 1 : 0;`;
      case 'int':
        return `  if (${x} !== (${x} | 0)) ${refuse};\n${this.varint(x)}`;
      case 'long':
        return (
          `  if (typeof ${x} !== 'number' || ${x} % 1 !== 0 || !(${x} >= -${MAX_SAFE_LONG} && ${x} <= ${MAX_SAFE_LONG})) ${refuse};\n` +
          this.varint(x)
        );
      case 'float':
        return `  if (typeof ${x} !== 'number') ${refuse};\n  pos = writeFloat(buf, pos, ${x});`;
      case 'double':
        return `  if (typeof ${x} !== 'number') ${refuse};\n  pos = writeDouble(buf, pos, ${x});`;
      case 'string':
        return `  if (typeof ${x} !== 'string') ${refuse};\n  pos = writeString(buf, pos, ${x});`;
      case 'bytes':
        return `  if (!isBuffer(${x})) ${refuse};\n  pos = writeBytes(buf, pos, ${x});`;
      case 'fixed': {
        const { size } = type as avroTypes.FixedType;
        return `  if (!isBuffer(${x}) || ${x}.length !== ${size}) ${refuse};\n  pos = writeRaw(buf, pos, ${x});`;
      }
      case 'enum':
        return this.enumStatements(type as avroTypes.EnumType, x, refuse);
      case 'array':
        return this.arrayStatements(type as avroTypes.ArrayType, x, where, refuse);
      case 'map':
        return this.mapStatements(type as avroTypes.MapType, x, where, refuse);
      case 'record':
        return `  pos = ${this.recordFunction(type as avroTypes.RecordType)}(buf, pos, ${x});`;
      case 'union:unwrapped':
        return this.unwrappedUnionStatements(type as avroTypes.UnwrappedUnionType, x, where, refuse);
      case 'union:wrapped':
        return this.wrappedUnionStatements(type as avroTypes.WrappedUnionType, x, where, refuse);
      default:
        throw new UnsupportedAvroTypeError(type.typeName, where);
    }
  }

  /** Zig-zag varint of an integer already checked; the common small case needs one store. */
  private varint(x: string): string {
    return `  if (${x} >= 0 && ${x} < 64) buf[pos++] = ${x} << 1;\n  else pos = writeLong(buf, pos, ${x});`;
  }

  private enumStatements(type: avroTypes.EnumType, x: string, refuse: string): string {
    if (type.symbols.length > 16) {
      const indices = this.constant(new Map(type.symbols.map((symbol, index) => [symbol, index])));
      const index = this.variable();
      return `  const ${index} = ${indices}.get(${x});\n  if (${index} === undefined) ${refuse};\n  pos = writeLong(buf, pos, ${index});`;
    }
    const cases = type.symbols.map((symbol, index) => `    case ${JSON.stringify(symbol)}: ${writeIndex(index)} break;`);
    return `  switch (${x}) {\n${cases.join('\n')}\n    default: ${refuse};\n  }`;
  }

  private arrayStatements(type: avroTypes.ArrayType, x: string, where: string, refuse: string): string {
    const [count, index, item] = [this.variable(), this.variable(), this.variable()];
    return (
      `  if (!isArray(${x})) ${refuse};\n` +
      `  const ${count} = ${x}.length;\n` +
      `  if (${count} > 0) {\n    pos = writeLong(buf, pos, ${count});\n` +
      `    for (let ${index} = 0; ${index} < ${count}; ${index}++) {\n      const ${item} = ${x}[${index}];\n` +
      `${this.statements(type.itemsType, item, `${where}[]`)}\n    }\n  }\n` +
      `  buf[pos++] = 0;`
    );
  }

  private mapStatements(type: avroTypes.MapType, x: string, where: string, refuse: string): string {
    const [names, count, index, value] = [this.variable(), this.variable(), this.variable(), this.variable()];
    return (
      `  if (typeof ${x} !== 'object' || ${x} === null || isArray(${x})) ${refuse};\n` +
      `  const ${names} = keys(${x});\n  const ${count} = ${names}.length;\n` +
      `  if (${count} > 0) {\n    pos = writeLong(buf, pos, ${count});\n` +
      `    for (let ${index} = 0; ${index} < ${count}; ${index}++) {\n` +
      `      pos = writeString(buf, pos, ${names}[${index}]);\n      const ${value} = ${x}[${names}[${index}]];\n` +
      `${this.statements(type.valuesType as Type, value, `${where}{}`)}\n    }\n  }\n` +
      `  buf[pos++] = 0;`
    );
  }

  /** The branch is chosen by the kind of value, as avsc does; `null` needs no bytes after the index. */
  private unwrappedUnionStatements(type: avroTypes.UnwrappedUnionType, x: string, where: string, refuse: string): string {
    const branches = type.types.map((branch, index) => {
      const bucket = bucketOf(branch, where);
      const write = bucket === 'null' ? '' : `\n${this.statements(branch, x, where)}`;
      return { bucket, code: `  ${writeIndex(index)}${write}` };
    });
    // null first: the object test below would otherwise have to exclude it again.
    branches.sort((a, b) => Number(b.bucket === 'null') - Number(a.bucket === 'null'));
    const chain = branches.map(({ bucket, code }) => `if (${bucketTest(bucket, x)}) {\n${code}\n  }`);
    return `  ${chain.join(' else ')} else ${refuse};`;
  }

  /** Wrapped unions take `null` or an object with one key, the branch name. */
  private wrappedUnionStatements(type: avroTypes.WrappedUnionType, x: string, where: string, refuse: string): string {
    const names = this.variable();
    const inner = this.variable();
    let nullCase = `  if (${x} === null) ${refuse};`;
    const cases: string[] = [];
    type.types.forEach((branch, index) => {
      if (branch.typeName === 'null') {
        nullCase = `  if (${x} === null) ${writeIndex(index)}`;
        return;
      }
      const name = JSON.stringify(branch.branchName);
      cases.push(
        `      case ${name}: {\n        const ${inner} = ${x}[${name}];\n        ${writeIndex(index)}\n` +
          `${this.statements(branch, inner, `${where}<${branch.branchName}>`)}\n        break;\n      }`,
      );
    });
    return (
      `${nullCase}\n  else {\n    if (typeof ${x} !== 'object') ${refuse};\n` +
      `    const ${names} = keys(${x});\n    if (${names}.length !== 1) ${refuse};\n` +
      `    switch (${names}[0]) {\n${cases.join('\n')}\n      default: ${refuse};\n    }\n  }`
    );
  }
}

/**
 * Generates the writer of `type`. Throws UnsupportedAvroTypeError for constructs it has no
 * code for (logical types, custom long types), so a caller can keep avsc for that type.
 */
export function compileAvroWriter(type: Type): AvroWriter {
  return new WriterCompiler().compile(type);
}
