import type { Message, Producer } from 'kafkajs';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { dlqTopic, type RetryTopology } from '../../src/consumer/retry-topology';
import { getEventDefinition } from '../../src/events/catalog';
import type { EventType, PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent, sampleStream, seededRng, type Rng } from '../../src/events/samples';
import { validateEvent } from '../../src/events/validate';
import { startConsumerProcess } from '../helpers/consumer-process';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords, readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * Ten thousand malformed records of eight kinds, shuffled among valid payment events and
 * produced around the SDK (as a buggy or hostile producer would), against a real worker
 * (`tidings run notification` in its own process). Reproduce a failure with FUZZ_SEED.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const VALID = 1_500;
/** How many records of each kind, and the reason (error code, message) each must be dead-lettered with. */
const KINDS = {
  'random-bytes': { count: 1_500, codes: ['MESSAGE_MALFORMED'], reason: /magic byte|too short/ },
  'wrong-magic-byte': { count: 1_500, codes: ['MESSAGE_MALFORMED'], reason: /unknown magic byte [1-9]/ },
  'unknown-schema-id': { count: 1_000, codes: ['MESSAGE_MALFORMED'], reason: /schema id \d+ is unknown to the registry/ },
  'truncated-avro': { count: 1_600, codes: ['MESSAGE_MALFORMED'], reason: /does not match schema \d+/ },
  // A random body may, rarely, decode: then it breaks the schema's rules instead.
  'random-body': { count: 1_500, codes: ['MESSAGE_MALFORMED', 'EVENT_INVALID'], reason: /does not match schema \d+|field "/ },
  oversized: { count: 40, codes: ['MESSAGE_MALFORMED', 'EVENT_INVALID'], reason: /does not match schema \d+|field "/ },
  'business-rule': { count: 1_460, codes: ['EVENT_INVALID'], reason: /^PAYMENT_SUCCEEDED: field "(amount\.amount_minor|items\[0\]\.quantity|amount\.currency|recipient\.email)" must/ },
  'card-number': { count: 1_400, codes: ['CARD_DATA_REFUSED'], reason: /^PAYMENT_SUCCEEDED: field "items\[0\]\.description" holds a card number/ },
} as const;
type Kind = keyof typeof KINDS;
const MALFORMED = Object.values(KINDS).reduce((sum, k) => sum + k.count, 0);
const KIND_HEADER = 'fuzz-kind';

interface Planned {
  topic: string;
  message: Message;
  /** The card number a `card-number` record holds, digits only. */
  card?: string;
  /** The event id of a valid event. */
  eventId?: string;
}

const bytes = (rng: Rng, length: number): Buffer => {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rng() * 256);
  return out;
};
const between = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

/** A Luhn-valid 16-digit number starting with 4 or 5: a card number as a person would paste it. */
function cardNumber(rng: Rng): string {
  const body = `${pick(rng, ['4', '5'])}${Array.from({ length: 14 }, () => String(Math.floor(rng() * 10))).join('')}`;
  for (let check = 0; check <= 9; check++) {
    const digits = `${body}${check}`;
    let sum = 0;
    for (let i = 0; i < 16; i++) {
      let d = Number(digits[15 - i]);
      if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    if (sum % 10 === 0) return digits;
  }
  throw new Error('unreachable');
}

describe('fuzzing: malformed records among valid events, against a real worker', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 3, retainMailBodies: false });
  });
  afterAll(() => ctx.dispose());

  it(`${MALFORMED} malformed records each reach the DLQ with their reason, ${VALID} valid events are each processed once, and the worker never restarts`, async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} to replay)`);
    const rng = seededRng(SEED);
    const planned = await plan(ctx, rng);
    expect(planned.filter((p) => p.eventId === undefined)).toHaveLength(MALFORMED);

    const worker = startConsumerProcess(ctx, { env: { LOG_LEVEL: 'info' } });
    let exitedEarly: unknown;
    void worker.exited.then((exit) => (exitedEarly = exit));
    let tail = '';
    for (const stream of [worker.child.stdout, worker.child.stderr]) stream?.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4_000)));
    const producer = ctx.platform.kafka.producer();
    await producer.connect();
    try {
      await produce(producer, planned);
      const topology: RetryTopology = { name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] };
      const dlqs = topology.sources.map((source) => dlqTopic(topology, source));
      const valid = planned.flatMap((p) => (p.eventId === undefined ? [] : [p.eventId]));
      let progress = '';
      await waitFor(
        'every record dead-lettered or processed',
        async () => {
          if (exitedEarly) throw new Error(`the worker exited: ${JSON.stringify(exitedEarly)}`);
          const [deadAuth, deadPayment] = await Promise.all(dlqs.map((t) => countRecords(ctx.platform.kafka, t)));
          const inbox = await ctx.db('inbox').where({ consumer_group: ctx.groupId('notification') }).count({ n: '*' }).first();
          progress = `dead-lettered ${(deadAuth ?? 0) + (deadPayment ?? 0)}/${MALFORMED}, inbox ${Number(inbox?.n)}/${VALID}, mails ${ctx.mail.messages.length}/${VALID}`;
          return (deadAuth ?? 0) + (deadPayment ?? 0) >= MALFORMED && Number(inbox?.n) >= VALID && ctx.mail.messages.length >= VALID;
        },
        150_000,
        500,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}: ${progress}; the worker's last lines:\n${tail}`);
      });
      expect(exitedEarly).toBeUndefined();

      // Every malformed record is in a DLQ, once, with the reason its kind calls for.
      const dead = (await Promise.all(dlqs.map((t) => readTopic(ctx.platform.kafka, t, 60_000)))).flat();
      expect(dead).toHaveLength(MALFORMED);
      const byKind = new Map<string, number>();
      const wrong: string[] = [];
      for (const record of dead) {
        const kind = record.headers[KIND_HEADER] as Kind;
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        const expected = KINDS[kind];
        const [code, message] = [record.headers[FAILURE_HEADERS.errorCode] ?? '', record.headers[FAILURE_HEADERS.errorMessage] ?? ''];
        if (!expected || !(expected.codes as readonly string[]).includes(code) || !expected.reason.test(message)) wrong.push(`${kind}: ${code} ${message}`);
      }
      expect(wrong.slice(0, 5)).toEqual([]);
      expect(Object.fromEntries(byKind)).toEqual(Object.fromEntries(Object.entries(KINDS).map(([kind, k]) => [kind, k.count])));
      // No card number reached the DLQ, in any form.
      const cards = new Map(planned.flatMap((p) => (p.card ? [[p.message.headers?.['fuzz-index'] as string, p.card] as const] : [])));
      const leaked = dead.filter((r) => {
        const card = cards.get(r.headers['fuzz-index'] ?? '');
        return card !== undefined && (r.value?.toString('latin1') ?? '').replace(/\D/g, '').includes(card);
      });
      expect(leaked).toHaveLength(0);

      // Every valid event was processed exactly once: one inbox row, one receipt, one email sent and recorded, one mail received.
      const inbox = await ctx.db('inbox').where({ consumer_group: ctx.groupId('notification') }).select('event_id');
      expect(inbox.map((r: { event_id: string }) => r.event_id).sort()).toEqual([...valid].sort());
      const receipts = await ctx.db('receipts').whereIn('event_id', valid).count({ n: '*' }).first();
      expect(Number(receipts?.n)).toBe(VALID);
      const sent = await ctx.db('delivery_ledger').where({ channel: 'email', status: 'sent' }).select('event_id');
      expect(sent.map((r: { event_id: string }) => r.event_id).sort()).toEqual([...valid].sort());
      const mailed = ctx.mail.messages.map((m) => m.headers['x-tidings-event-id'] ?? '');
      expect(mailed.sort()).toEqual([...valid].sort());

      // The worker ran the whole time, in one process, without ever rejoining its group.
      worker.child.kill('SIGTERM');
      const exit = await worker.exited;
      expect(exit.code).toBe(0);
      const stopped = exit.output
        .split('\n')
        .filter((line) => line.includes('"msg":"stopped"'))
        .map((line) => JSON.parse(line) as Record<string, number>)[0];
      expect(stopped).toMatchObject({ malformed: MALFORMED, deadLettered: MALFORMED, processed: VALID, duplicates: 0, retried: 0, rebalances: 0 });
    } finally {
      worker.child.kill('SIGKILL');
      await producer.disconnect();
    }
  }, 240_000);
});

/** The records to send, valid and malformed, shuffled. */
async function plan(ctx: TestContext, rng: Rng): Promise<Planned[]> {
  const registry = ctx.platform.registry;
  const topicOf = (type: EventType): string => ctx.topics[getEventDefinition(type).domain];
  const encode = (type: EventType, payload: unknown): Promise<Buffer> => registry.encode(type, topicOf(type), payload);
  const anyTopic = (): string => pick(rng, [ctx.topics.auth, ctx.topics.payment]);
  const payment = (user: number): PaymentSucceeded => {
    const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: `fuzz-user-${user}` }, rng);
    return { ...event, recipient: { ...event.recipient, email: `fuzz-${event.event_id}@example.com` } };
  };
  const samples = sampleStream(400, { rng });
  const encodedSamples = await Promise.all(samples.map(async (s) => ({ topic: topicOf(s.type), value: await encode(s.type, s.event) })));
  const schemaIds = [...new Set(await Promise.all(samples.slice(0, 40).map((s) => registry.schemaId(s.type, topicOf(s.type)))))];

  const out: Planned[] = [];
  const add = (kind: Kind, topic: string, value: Buffer, card?: string): void => {
    out.push({ topic, message: { key: `fuzz-key-${between(rng, 1, 300)}`, value, headers: { [KIND_HEADER]: kind, 'fuzz-index': String(out.length) } }, card });
  };
  const header = (schemaId: number): Buffer => {
    const h = Buffer.alloc(5);
    h.writeInt32BE(schemaId, 1);
    return h;
  };
  for (let i = 0; i < VALID; i++) {
    const event = payment(between(rng, 1, 300));
    validateEvent('PAYMENT_SUCCEEDED', event);
    out.push({ topic: ctx.topics.payment, message: { key: event.user_id, value: await encode('PAYMENT_SUCCEEDED', event) }, eventId: event.event_id });
  }
  for (let i = 0; i < KINDS['random-bytes'].count; i++) {
    const value = bytes(rng, between(rng, 1, 300));
    value[0] = between(rng, 1, 255); // a 0 here would make it the next kind
    add('random-bytes', anyTopic(), value);
  }
  for (let i = 0; i < KINDS['wrong-magic-byte'].count; i++) {
    const sample = pick(rng, encodedSamples);
    const value = Buffer.from(sample.value);
    value[0] = between(rng, 1, 255);
    add('wrong-magic-byte', sample.topic, value);
  }
  for (let i = 0; i < KINDS['unknown-schema-id'].count; i++) {
    const sample = pick(rng, encodedSamples);
    add('unknown-schema-id', sample.topic, Buffer.concat([header(between(rng, 1_000_000_000, 2_000_000_000)), sample.value.subarray(5)]));
  }
  for (let i = 0; i < KINDS['truncated-avro'].count; i++) {
    const sample = pick(rng, encodedSamples);
    add('truncated-avro', sample.topic, Buffer.from(sample.value.subarray(0, between(rng, 5, sample.value.length - 1))));
  }
  for (let i = 0; i < KINDS['random-body'].count; i++) {
    add('random-body', anyTopic(), Buffer.concat([header(pick(rng, schemaIds)), bytes(rng, between(rng, 1, 300))]));
  }
  for (let i = 0; i < KINDS.oversized.count; i++) {
    add('oversized', anyTopic(), Buffer.concat([header(pick(rng, schemaIds)), bytes(rng, between(rng, 100_000, 300_000))]));
  }
  const breakers: Array<(e: PaymentSucceeded) => PaymentSucceeded> = [
    (e) => ({ ...e, amount: { ...e.amount, amount_minor: -between(rng, 1, 10_000) } }),
    (e) => ({ ...e, items: [{ sku: 'SKU-1', description: 'a thing', quantity: 0, unit_amount_minor: 100 }] }),
    (e) => ({ ...e, amount: { ...e.amount, currency: 'EURO' } }),
    (e) => ({ ...e, recipient: { ...e.recipient, email: 'not-an-address' } }),
  ];
  for (let i = 0; i < KINDS['business-rule'].count; i++) {
    add('business-rule', ctx.topics.payment, await encode('PAYMENT_SUCCEEDED', pick(rng, breakers)(payment(between(rng, 1, 300)))));
  }
  for (let i = 0; i < KINDS['card-number'].count; i++) {
    const card = cardNumber(rng);
    const written = pick(rng, [card, card.replace(/(\d{4})(?=\d)/g, '$1 '), card.replace(/(\d{4})(?=\d)/g, '$1-')]);
    const event = { ...payment(between(rng, 1, 300)), items: [{ sku: 'GIFT', description: `paid with card ${written}`, quantity: 1, unit_amount_minor: 500 }] };
    add('card-number', ctx.topics.payment, await encode('PAYMENT_SUCCEEDED', event), card);
  }
  // Fisher–Yates with the seeded generator: the interleaving is part of what the seed replays.
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j] as Planned, out[i] as Planned];
  }
  return out;
}

/** Sends the records in order, in large batches; an oversized record goes on its own, as no batch may pass the broker's 1 MB. */
async function produce(producer: Producer, planned: Planned[]): Promise<void> {
  let batch: Planned[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      const messages = byTopic.get(p.topic) ?? [];
      messages.push(p.message);
      byTopic.set(p.topic, messages);
    }
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    batch = [];
  };
  for (const p of planned) {
    if ((p.message.value as Buffer).length > 50_000) {
      await flush();
      batch = [p];
      await flush();
    } else {
      batch.push(p);
      if (batch.length >= 2_000) await flush();
    }
  }
  await flush();
}
