import { types, type Type } from 'avsc';

/**
 * Checks that an Avro body's declared sizes fit in its bytes before avsc decodes it. avsc
 * allocates an array of the count a block declares and reads that many items even past the
 * end of the buffer, so a 100-byte record declaring 30 million items costs seconds of CPU and
 * gigabytes of memory before it is refused: a record built to crash a worker, every time it
 * is redelivered. This walk reads the body as `writer` wrote it, allocating nothing, and
 * throws (with the offending position) on a length, count or union branch that cannot be.
 */
export function assertAvroBounds(writer: Type, body: Buffer): void {
  checkerOf(writer)(body, { pos: 0 });
}

/** A zero-byte item (null, an empty record) lets a count outgrow the bytes; this many at most. */
const MAX_EMPTY_ITEMS = 100_000;

class BoundsError extends Error {}

type Cursor = { pos: number };
type Check = (buf: Buffer, c: Cursor) => void;

/** Compiled once per type (the walk is on every decode): a closure per node, no type tests at run time. */
const checkers = new WeakMap<Type, Check>();

function checkerOf(type: Type): Check {
  let check = checkers.get(type);
  if (!check) {
    // Set before compiling the children, so a recursive type refers to itself.
    let compiled: Check | undefined;
    checkers.set(type, (buf, c) => (compiled as Check)(buf, c));
    compiled = compile(type);
    check = compiled;
    checkers.set(type, check);
  }
  return check;
}

function compile(type: Type): Check {
  if (type instanceof types.LogicalType) return checkerOf(type.underlyingType);
  if (type instanceof types.RecordType) {
    const fields = type.fields.map((f) => checkerOf(f.type));
    return (buf, c) => {
      for (const field of fields) field(buf, c);
    };
  }
  if (type instanceof types.UnwrappedUnionType || type instanceof types.WrappedUnionType) {
    const branches = type.types.map((t) => checkerOf(t));
    return (buf, c) => {
      const at = c.pos;
      const index = readLong(buf, c);
      const branch = branches[index];
      if (index < 0 || branch === undefined) throw new BoundsError(`union branch ${index} at byte ${at} does not exist (${branches.length} branches)`);
      branch(buf, c);
    };
  }
  if (type instanceof types.ArrayType) {
    const items = checkerOf(type.itemsType);
    const canBeEmpty = minimumBytes(type.itemsType) === 0;
    return (buf, c) => blocks(buf, c, items, undefined, canBeEmpty);
  }
  if (type instanceof types.MapType) {
    const values = checkerOf(type.valuesType);
    return (buf, c) => blocks(buf, c, values, lengthPrefixed('string'), false);
  }
  if (type instanceof types.FixedType) {
    const size = type.size;
    return (buf, c) => take(buf, c, size, 'fixed');
  }
  if (type instanceof types.EnumType) {
    const symbols = type.symbols.length;
    return (buf, c) => {
      const at = c.pos;
      const index = readLong(buf, c);
      if (index < 0 || index >= symbols) throw new BoundsError(`enum index ${index} at byte ${at} does not exist`);
    };
  }
  switch (type.typeName) {
    case 'null':
      return () => undefined;
    case 'boolean':
      return (buf, c) => take(buf, c, 1, 'boolean');
    case 'int':
    case 'long':
      return (buf, c) => void readLong(buf, c);
    case 'float':
      return (buf, c) => take(buf, c, 4, 'float');
    case 'double':
      return (buf, c) => take(buf, c, 8, 'double');
    case 'string':
    case 'bytes':
      return lengthPrefixed(type.typeName);
    default: {
      const name = type.typeName;
      // A type this walk does not know: refused, rather than passed unchecked to avsc.
      return () => {
        throw new BoundsError(`cannot check Avro type ${name}`);
      };
    }
  }
}

function lengthPrefixed(what: string): Check {
  return (buf, c) => {
    const at = c.pos;
    const length = readLong(buf, c);
    if (length < 0) throw new BoundsError(`${what} at byte ${at} declares a negative length ${length}`);
    take(buf, c, length, what);
  };
}

/** Array and map blocks: a count, a byte size when the count is negative, then the items. */
function blocks(buf: Buffer, c: Cursor, items: Check, key: Check | undefined, canBeEmpty: boolean): void {
  let seen = 0;
  for (;;) {
    const at = c.pos;
    let count = readLong(buf, c);
    if (count === 0) return;
    if (count < 0) {
      count = -count;
      const size = readLong(buf, c);
      if (size < 0 || size > buf.length - c.pos) throw new BoundsError(`block at byte ${at} declares ${size} bytes, ${buf.length - c.pos} are left`);
    }
    seen += count;
    // Each item takes at least a byte (a map key's length at least), unless it can be empty.
    if (canBeEmpty ? seen > MAX_EMPTY_ITEMS : count > buf.length - c.pos) {
      throw new BoundsError(`block at byte ${at} declares ${count} items, ${buf.length - c.pos} bytes are left`);
    }
    for (let i = 0; i < count; i++) {
      key?.(buf, c);
      items(buf, c);
    }
  }
}

/** The fewest bytes a value of `type` is encoded in: 0 for null, empty records and fixed(0). */
function minimumBytes(type: Type): number {
  if (type instanceof types.LogicalType) return minimumBytes(type.underlyingType);
  if (type instanceof types.RecordType) return type.fields.reduce((n, f) => n + minimumBytes(f.type), 0);
  if (type instanceof types.FixedType) return type.size;
  return type.typeName === 'null' ? 0 : 1;
}

function take(buf: Buffer, c: Cursor, n: number, what: string): void {
  if (n > buf.length - c.pos) throw new BoundsError(`${what} at byte ${c.pos} needs ${n} bytes, ${buf.length - c.pos} are left`);
  c.pos += n;
}

/** A zig-zag varint of at most 10 bytes, as a number (Avro longs beyond 2^53 are out of any bound here anyway). */
function readLong(buf: Buffer, c: Cursor): number {
  let result = 0;
  let shift = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= buf.length) throw new BoundsError(`varint at byte ${c.pos} runs past the end`);
    const byte = buf[c.pos++] as number;
    result += (byte & 0x7f) * shift;
    if ((byte & 0x80) === 0) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    shift *= 128;
  }
  throw new BoundsError(`varint at byte ${c.pos} is longer than 10 bytes`);
}
