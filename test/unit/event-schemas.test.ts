import fs from 'node:fs';
import path from 'node:path';
import { UnknownEventTypeError } from '../../src/errors';
import { findDefinitionByRecordName, getEventDefinition, listEventDefinitions } from '../../src/events/catalog';
import { generateTypes } from '../../src/events/codegen';
import { AUTH_EVENT_TYPES, EVENT_TYPES, PAYMENT_EVENT_TYPES } from '../../src/events/generated';
import { sampleEvent, sampleStream, seededRng } from '../../src/events/samples';
import { validateEvent } from '../../src/events/validate';

describe('event schemas and catalog', () => {
  it('generated.ts is up to date with schemas/ (run npm run gen:types if this fails)', () => {
    const onDisk = fs.readFileSync(path.resolve(__dirname, '../../src/events/generated.ts'), 'utf8');
    expect(onDisk).toBe(generateTypes());
  });

  it('catalogs every generated event type on its domain topic', () => {
    expect(listEventDefinitions().map((d) => d.type).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of AUTH_EVENT_TYPES) expect(getEventDefinition(type).defaultTopic).toBe('auth.events');
    for (const type of PAYMENT_EVENT_TYPES) expect(getEventDefinition(type).defaultTopic).toBe('payment.events');
    const succeeded = getEventDefinition('PAYMENT_SUCCEEDED');
    expect(succeeded.recordName).toBe('tidings.payment.PaymentSucceeded');
    expect(findDefinitionByRecordName('tidings.payment.PaymentSucceeded')).toBe(succeeded);
    expect(findDefinitionByRecordName('tidings.payment.Nope')).toBeUndefined();
  });

  it('rejects unknown event types with UnknownEventTypeError', () => {
    expect(() => getEventDefinition('PAYMENT_SUCEEDED')).toThrow(UnknownEventTypeError);
    expect(() => validateEvent('NOPE', {})).toThrow(UnknownEventTypeError);
  });

  it('gives every event a self-contained schema with the common header fields first', () => {
    for (const definition of listEventDefinitions()) {
      const json = JSON.stringify(definition.schema);
      // Common types are inlined exactly once, so the registry needs no schema references.
      expect(json.match(/"name":"tidings\.common\.Contact"/g)).toHaveLength(1);
      expect(definition.schema.fields.slice(0, 4).map((f) => f.name)).toEqual([
        'event_id',
        'user_id',
        'occurred_at',
        'recipient',
      ]);
      if (definition.domain === 'auth') expect(definition.schema.fields[4]?.name).toBe('client');
    }
  });

  it.each(EVENT_TYPES)('%s: a sample validates and survives an Avro binary round trip', (type) => {
    const { avroType } = getEventDefinition(type);
    const event = sampleEvent(type, {}, seededRng(7));
    expect(() => validateEvent(type, event)).not.toThrow();
    const decoded: unknown = avroType.fromBuffer(avroType.toBuffer(event));
    expect(JSON.parse(JSON.stringify(decoded))).toEqual(JSON.parse(JSON.stringify(avroType.clone(event))));
  });

  it('produces a realistic mixed stream of valid events across users', () => {
    const stream = sampleStream(500, { users: 20, rng: seededRng(1) });
    expect(stream).toHaveLength(500);
    const types = new Set(stream.map((entry) => entry.type));
    expect(types.size).toBeGreaterThan(10);
    expect(new Set(stream.map((entry) => entry.event.user_id)).size).toBeLessThanOrEqual(20);
    expect(new Set(stream.map((entry) => entry.event.event_id)).size).toBe(500);
    const currencies = new Set(
      stream.flatMap((entry) => ('amount' in entry.event ? [entry.event.amount.currency] : [])),
    );
    expect([...currencies]).toEqual(expect.arrayContaining(['EUR', 'USD', 'JPY']));
    for (const { type, event } of stream) validateEvent(type, event);
  });

  it('lets a field with a schema default be omitted', () => {
    const event = sampleEvent('PAYMENT_SUCCEEDED');
    delete event.items;
    delete event.order_id;
    expect(() => validateEvent('PAYMENT_SUCCEEDED', event)).not.toThrow();
  });
});
