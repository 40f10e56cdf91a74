import { Type, types as avroTypes } from 'avsc';
import { AvroValueRejected, compileAvroWriter, UnsupportedAvroTypeError } from '../../src/events/avro-writer';
import { listEventDefinitions } from '../../src/events/catalog';
import { sampleStream, seededRng } from '../../src/events/samples';
import { frame } from '../../src/registry/event-registry';

const writers = new WeakMap<Type, ReturnType<typeof compileAvroWriter>>();
const scratch = Buffer.alloc(256 * 1024);

/** The writer's bytes for `value`, or 'rejected' when it leaves the value to avsc. */
function written(type: Type, value: unknown): Buffer | 'rejected' {
  let write = writers.get(type);
  if (!write) {
    write = compileAvroWriter(type);
    writers.set(type, write);
  }
  try {
    return Buffer.from(scratch.subarray(0, write(scratch, 0, value)));
  } catch (error) {
    if (error instanceof AvroValueRejected) return 'rejected';
    throw error;
  }
}

/** JSON form of a decoded value, as event-schemas.test.ts compares them. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v)));
}

function hasLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value);
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return false;
  return Object.values(value).some(hasLoneSurrogate);
}

/** Byte for byte avsc's output, and avsc reads it back as the value it was given. */
function expectSameAsAvsc(type: Type, value: unknown): void {
  const expected = type.toBuffer(value);
  const actual = written(type, value);
  if (actual === 'rejected') {
    // Only for strings avsc writes its own way; frame() then lets avsc write them.
    expect(hasLoneSurrogate(value)).toBe(true);
  } else {
    expect(actual.toString('hex')).toBe(expected.toString('hex'));
    if (!hasLoneSurrogate(value)) expect(plain(type.fromBuffer(actual))).toEqual(plain(type.clone(value)));
  }
  const framed = frame(0x01020304, type, value);
  expect(framed.toString('hex')).toBe(`0001020304${expected.toString('hex')}`);
}

const ABSENT = Symbol('absent');

const LONGS = [
  0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, -8193, 2 ** 30 - 1, 2 ** 30, -(2 ** 30), -(2 ** 30) - 1,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32) - 7, 1_767_225_600_000, -1_767_225_600_000, 2 ** 52, -(2 ** 52) - 1,
  9007199254740990, -9007199254740990, 9007199254740989, -9007199254740989, 2 ** 53 - 4, -(2 ** 53) + 4,
];
const INTS = [0, 1, -1, 63, 64, -64, -65, 2 ** 30 - 1, 2 ** 30, -(2 ** 30), -(2 ** 30) - 1, 2 ** 31 - 1, -(2 ** 31)];
const STRINGS = [
  '',
  'a',
  'Zoë Ångström',
  'José 😀 Müller',
  '😀',
  '日本語のテキスト',
  'x'.repeat(31),
  'x'.repeat(32),
  'x'.repeat(63),
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(8191),
  'x'.repeat(8192),
  'é'.repeat(31),
  'é'.repeat(32),
  'é'.repeat(33),
  `${'x'.repeat(40)}é`,
  `${'x'.repeat(62)}é`,
  `${'é'.repeat(4000)}😀`,
  'café.crème+✓@exämple.com',
  '\u0000\u007f\u0080\u07ff\u0800\uffff',
  'lone \ud800 surrogate',
  'end \udbff',
  `${'x'.repeat(70)}\udc00`,
];

/** Valid values of `type` that stress the encoder, each different from the last. */
function alternatives(type: Type, value: unknown): unknown[] {
  switch (type.typeName) {
    case 'string':
      return STRINGS;
    case 'long':
      return LONGS;
    case 'int':
      return INTS;
    case 'boolean':
      return [true, false];
    case 'enum':
      return (type as avroTypes.EnumType).symbols;
    case 'union:unwrapped': {
      const branch = (type as avroTypes.UnwrappedUnionType).types.find((t) => t.typeName !== 'null') as Type;
      return [null, ...alternatives(branch, value ?? branch.random())];
    }
    case 'array': {
      const items = value as unknown[];
      const item = items[0] ?? (type as avroTypes.ArrayType).itemsType.random();
      return [[], Array.from({ length: 70 }, () => item), ...alternatives((type as avroTypes.ArrayType).itemsType, item).map((alt) => [alt, item])];
    }
    case 'record': {
      const record = value as Record<string, unknown>;
      return (type as avroTypes.RecordType).fields.flatMap((field) => {
        const alts = [...alternatives(field.type, record[field.name])];
        if (field.defaultValue() !== undefined) alts.push(ABSENT);
        return alts.map((alt) => {
          const copy = { ...record, [field.name]: alt };
          if (alt === ABSENT) delete copy[field.name];
          return copy;
        });
      });
    }
    default:
      return [];
  }
}

describe('the generated Avro writer', () => {
  it('compiles every event schema (a construct it cannot write fails here, not in production)', () => {
    for (const { avroType } of listEventDefinitions()) expect(() => compileAvroWriter(avroType)).not.toThrow();
  });

  it('writes thousands of sample events exactly as avsc does', () => {
    for (const { type, event } of sampleStream(3_000, { rng: seededRng(11), users: 500 })) {
      const definition = listEventDefinitions().find((d) => d.type === type);
      expectSameAsAvsc((definition as { avroType: Type }).avroType, event);
    }
  });

  it.each(listEventDefinitions().map((d) => [d.type, d] as const))(
    '%s: every field at its edges (non-ASCII, empty, null and absent, extreme longs, each enum symbol)',
    (_type, definition) => {
      const [sample] = sampleStream(200, { rng: seededRng(3) }).filter((entry) => entry.type === definition.type);
      const event = sample?.event ?? definition.avroType.random();
      const variants = alternatives(definition.avroType, event);
      expect(variants.length).toBeGreaterThan(50);
      for (const variant of variants) expectSameAsAvsc(definition.avroType, variant);
    },
  );

  it('writes every Avro type, nested, recursive and in every union shape avsc accepts', () => {
    const everything = Type.forSchema({
      type: 'record',
      name: 'test.Everything',
      fields: [
        { name: 'b', type: 'boolean' },
        { name: 'i', type: 'int' },
        { name: 'l', type: 'long' },
        { name: 'f', type: 'float' },
        { name: 'd', type: 'double' },
        { name: 'by', type: 'bytes' },
        { name: 'fx', type: { type: 'fixed', name: 'Sixteen', size: 16 } },
        { name: 's', type: 'string' },
        { name: 'n', type: 'null' },
        { name: 'm', type: { type: 'map', values: { type: 'array', items: 'long' } } },
        { name: 'u', type: ['null', 'string', 'long', 'boolean', 'bytes', { type: 'map', values: 'int' }, { type: 'array', items: 'string' }] },
        { name: 'w', type: ['null', 'int', 'long', 'Sixteen', { type: 'record', name: 'Pair', fields: [{ name: 'a', type: 'int' }] }] },
        { name: 'e', type: { type: 'enum', name: 'Many', symbols: Array.from({ length: 70 }, (_, i) => `S${i}`) } },
        { name: 'small', type: { type: 'enum', name: 'Few', symbols: ['A', 'B'] }, default: 'B' },
        { name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'string', default: 'hé' }] }, default: { x: 'yo' } },
        { name: 'arr', type: { type: 'array', items: ['null', 'double'] }, default: [] },
        { name: 'next', type: ['null', 'test.Everything'], default: null },
      ],
    });
    expect((everything as avroTypes.RecordType).fields.find((f) => f.name === 'w')?.type.typeName).toBe('union:wrapped');
    for (let i = 0; i < 2_000; i++) expectSameAsAvsc(everything, everything.random());
    const value = everything.random() as unknown as Record<string, unknown>;
    for (const w of [null, { int: 5 }, { long: 2 ** 40 }, { 'test.Sixteen': Buffer.alloc(16, 7) }, { 'test.Pair': { a: -3 } }]) expectSameAsAvsc(everything, { ...value, w });
    for (const f of [0, -0, 1.5, NaN, Infinity, -Infinity, 3.4e38, 1e-45]) expectSameAsAvsc(everything, { ...value, f, d: f });
    expectSameAsAvsc(everything, { ...value, small: undefined, inner: undefined, arr: undefined, next: undefined });
    expectSameAsAvsc(everything, { ...value, m: {}, u: {}, next: { ...value, next: { ...value, next: null } } });
    for (const schema of ['string', 'long', { type: 'array', items: 'string' }, ['null', 'string']] as const) {
      const type = Type.forSchema(schema as Parameters<typeof Type.forSchema>[0]);
      for (let i = 0; i < 200; i++) expectSameAsAvsc(type, type.random());
    }
  });

  it('reads fields the way avsc does: inherited, not enumerable, or added after other keys', () => {
    const type = Type.forSchema({
      type: 'record',
      name: 'test.Shapes',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: 'long', default: 7 },
        { name: 'c', type: ['null', 'string'], default: null },
      ],
    });
    const inherited = Object.create({ a: 'from the prototype', c: 'also' }) as Record<string, unknown>;
    inherited.b = 3;
    const hidden = { a: 'x' };
    Object.defineProperty(hidden, 'b', { value: 99, enumerable: false });
    for (const value of [inherited, hidden, { c: 'z', extra: 1, b: 1, a: 'reordered' }, type.clone({ a: 'avsc record' })]) {
      expectSameAsAvsc(type, value);
    }
    // More fields than one 32-bit mask of seen fields holds, and a record with none.
    const wide = Type.forSchema({
      type: 'record',
      name: 'test.Wide',
      fields: [
        ...Array.from({ length: 70 }, (_, i) => ({ name: `f${i}`, type: 'int', default: i })),
        { name: 'empty', type: { type: 'record', name: 'Empty', fields: [] } },
      ],
    });
    const some = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`f${i}`, -i * 1_000]).filter((_, i) => i % 3 === 0));
    expectSameAsAvsc(wide, { ...some, empty: {} });
    expectSameAsAvsc(wide, { empty: {} });
  });

  it('reports the room a value needs without writing past the end of the buffer', () => {
    for (const { type, event } of sampleStream(50, { rng: seededRng(5) })) {
      const { avroType } = listEventDefinitions().find((d) => d.type === type) as { avroType: Type };
      const padded = Buffer.alloc(48, 0xaa);
      const end = compileAvroWriter(avroType)(padded.subarray(0, 40), 0, event);
      expect(end).toBe(avroType.toBuffer(event).length);
      expect(padded.subarray(40).every((byte) => byte === 0xaa)).toBe(true);
    }
  });

  it('frames values larger than its slab, and many in a row across slabs', () => {
    const definition = listEventDefinitions().find((d) => d.type === 'LOGIN_ALERT') as { avroType: Type };
    const [sample] = sampleStream(100, { rng: seededRng(9) }).filter((e) => e.type === 'LOGIN_ALERT');
    expectSameAsAvsc(definition.avroType, { ...sample?.event, alert_reason: 'é'.repeat(100_000) });
    const values = Array.from({ length: 2_000 }, (_, i) => ({ ...sample?.event, alert_reason: 'x'.repeat(i) }));
    const framed = values.map((value) => frame(1, definition.avroType, value));
    framed.forEach((bytes, i) => expect(bytes.subarray(5).equals(definition.avroType.toBuffer(values[i]))).toBe(true));
  });

  it('leaves invalid values to avsc, which rejects them with its own error', () => {
    const definition = listEventDefinitions().find((d) => d.type === 'PAYMENT_SUCCEEDED') as { avroType: Type };
    const [sample] = sampleStream(100, { rng: seededRng(2) }).filter((e) => e.type === 'PAYMENT_SUCCEEDED');
    const event = sample?.event as unknown as Record<string, unknown>;
    for (const invalid of [
      { ...event, amount: { amount_minor: 'ten', currency: 'EUR' } },
      { ...event, occurred_at: 1.5 },
      { ...event, occurred_at: 2 ** 53 },
      { ...event, card_last4: 4242 },
      { ...event, items: 'none' },
      { ...event, user_id: undefined },
      null,
      'not an event',
    ]) {
      expect(() => compileAvroWriter(definition.avroType)(Buffer.alloc(4096), 0, invalid)).toThrow();
      let avscError: unknown;
      try {
        definition.avroType.toBuffer(invalid);
      } catch (error) {
        avscError = error;
      }
      expect(avscError).toBeInstanceOf(Error);
      expect(() => frame(1, definition.avroType, invalid)).toThrow((avscError as Error).message);
    }
  });

  it('refuses logical types at compile time, and frame() keeps encoding them with avsc', () => {
    class DateType extends avroTypes.LogicalType {
      override _fromValue(value: number): Date {
        return new Date(value);
      }
      override _toValue(date: unknown): number | undefined {
        return date instanceof Date ? date.getTime() : undefined;
      }
    }
    const type = Type.forSchema(
      { type: 'record', name: 'test.Dated', fields: [{ name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }] },
      { logicalTypes: { 'timestamp-millis': DateType } },
    );
    expect(() => compileAvroWriter(type)).toThrow(UnsupportedAvroTypeError);
    const value = { at: new Date(1_767_225_600_000) };
    expect(frame(1, type, value).subarray(5).equals(type.toBuffer(value))).toBe(true);
  });
});
