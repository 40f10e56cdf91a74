import { getEventDefinition } from '../../src/events/catalog';
import type { TypedEvent } from '../../src/events/generated';
import { validateEvent } from '../../src/events/validate';
import { frame } from '../../src/registry/event-registry';
import { benchEvents } from '../harness/fixtures';
import { fromSamples, perSecond, type Scenario } from '../harness/scenario';

/** Any id will do: no registry is involved, only the bytes of the wire format. */
const SCHEMA_ID = 1;

/**
 * CPU only, no broker: what validation (schema walk, avsc check, business rules) costs on
 * top of the Avro encoding every publish needs anyway.
 */
export const validateEncode: Scenario = {
  name: 'validate-encode',
  description: 'CPU only: validateEvent + Avro encode vs Avro encode alone, same events',
  async run(ctx) {
    const events = benchEvents(ctx.events);
    // Warm-up so both loops are measured with optimised code.
    validateAndEncode(events.slice(0, 5_000));
    encodeOnly(events.slice(0, 5_000));

    const both: number[] = [];
    const encode: number[] = [];
    for (let round = 0; round < ctx.rounds; round++) {
      encode.push(timed(events.length, () => encodeOnly(events)));
      both.push(timed(events.length, () => validateAndEncode(events)));
      ctx.progress(`  round ${round + 1}: validate+encode ${Math.round(both[round] ?? 0)} events/s, encode ${Math.round(encode[round] ?? 0)} events/s`);
    }
    const detail = { events: events.length };
    return {
      measurements: [fromSamples('validate+encode', 'events/s', both, detail), fromSamples('encode', 'events/s', encode, detail)],
      comparisons: [{ measurement: 'validate+encode', baseline: 'encode', note: '1 − ratio is the share of time spent validating' }],
    };
  },
};

function timed(count: number, work: () => number): number {
  const start = process.hrtime.bigint();
  const bytes = work();
  const elapsed = process.hrtime.bigint() - start;
  // Using the result keeps the work observable, so it cannot be optimised away.
  if (bytes <= 0) throw new Error('nothing was encoded');
  return perSecond(count, elapsed);
}

function encodeOnly(events: TypedEvent[]): number {
  let bytes = 0;
  for (const { type, event } of events) bytes += frame(SCHEMA_ID, getEventDefinition(type).avroType, event).length;
  return bytes;
}

function validateAndEncode(events: TypedEvent[]): number {
  let bytes = 0;
  for (const { type, event } of events) {
    validateEvent(type, event);
    bytes += frame(SCHEMA_ID, getEventDefinition(type).avroType, event).length;
  }
  return bytes;
}
