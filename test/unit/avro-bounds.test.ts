import { Type } from 'avsc';
import { listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { assertAvroBounds } from '../../src/registry/avro-bounds';

/** A zig-zag varint, as Avro writes a long. */
function varint(n: number): Buffer {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return Buffer.from(out);
}

describe('Avro bodies are checked for sizes that cannot fit before they are decoded', () => {
  it('passes every event type as the SDK encodes it, and refuses each truncation of it', () => {
    const rng = seededRng(11);
    for (const def of listEventDefinitions()) {
      const body = def.avroType.toBuffer(sampleEvent(def.type as EventType, {}, rng));
      expect(() => assertAvroBounds(def.avroType, body)).not.toThrow();
      for (const cut of [1, 2, Math.floor(body.length / 2)]) {
        expect(() => assertAvroBounds(def.avroType, body.subarray(0, body.length - cut))).toThrow(/runs past the end|needs \d+ bytes|declares \d+ items/);
      }
    }
  });

  it('refuses a 100-byte body whose array declares 30 million items, at once and without allocating them', () => {
    const definition = listEventDefinitions().find((d) => d.type === 'PAYMENT_SUCCEEDED');
    if (!definition) throw new Error('PAYMENT_SUCCEEDED is not in the catalog');
    const event = sampleEvent('PAYMENT_SUCCEEDED', {}, seededRng(3));
    expect(event.items?.length).toBeGreaterThan(0);
    expect(event.items?.length).toBeLessThan(64);
    const body = definition.avroType.toBuffer(event);
    // Where the items array's block count is: the first byte that differs from the same event
    // encoded with no items (a one-byte count there, as the array is short).
    const empty = definition.avroType.toBuffer({ ...event, items: [] });
    let at = 0;
    while (at < empty.length && empty[at] === body[at]) at++;
    const crafted = Buffer.concat([body.subarray(0, at), varint(30_000_000), body.subarray(at + 1, at + 60)]);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = process.hrtime.bigint();
    expect(() => assertAvroBounds(definition.avroType, crafted)).toThrow(/declares 30000000 items/);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(50);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(16 * 2 ** 20);
  });

  it('refuses a negative string length, a union branch that does not exist and an unknown enum symbol', () => {
    const definition = listEventDefinitions().find((d) => d.type === 'USER_REGISTERED');
    if (!definition) throw new Error('USER_REGISTERED is not in the catalog');
    // The first field is the event id, a string: its length comes first.
    expect(() => assertAvroBounds(definition.avroType, Buffer.concat([varint(-5), Buffer.alloc(40)]))).toThrow(/negative length/);
    expect(() => assertAvroBounds(Type.forSchema(['null', 'string']), varint(5))).toThrow(/union branch 5/);
    expect(() => assertAvroBounds(Type.forSchema({ type: 'enum', name: 'E', symbols: ['A', 'B'] }), varint(2))).toThrow(/enum index 2/);
    expect(() => assertAvroBounds(Type.forSchema({ type: 'map', values: 'long' }), Buffer.concat([varint(-3), varint(1_000)]))).toThrow(/declares 1000 bytes/);
  });
});
