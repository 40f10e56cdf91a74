import { Type } from 'avsc';
import { startNotificationConsumer } from '../../consumers/notification';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { dlqTopic } from '../../src/consumer/retry-topology';
import { MalformedMessageError } from '../../src/errors';
import { getEventDefinition } from '../../src/events/catalog';
import type { PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { frame } from '../../src/registry/event-registry';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords, readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const CT = { 'content-type': 'application/vnd.schemaregistry.v1+json' };

/**
 * A PaymentSucceeded written by a producer whose schema dropped `payment_id`, a field this
 * build's reader requires and has no default for: Avro cannot resolve it, ever. The subject
 * has compatibility NONE, as a registry that let it through would.
 */
async function registerUnreadableWriter(ctx: TestContext): Promise<{ subject: string; id: number; type: Type }> {
  const reader = getEventDefinition('PAYMENT_SUCCEEDED').schema;
  const schema = { ...reader, fields: reader.fields.filter((f) => f.name !== 'payment_id') };
  const subject = `${ctx.id}.rogue-${reader.name}`;
  const url = ctx.platform.registry.url;
  const config = await fetch(`${url}/config/${encodeURIComponent(subject)}`, { method: 'PUT', headers: CT, body: JSON.stringify({ compatibility: 'NONE' }) });
  expect(config.status).toBe(200);
  const created = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, { method: 'POST', headers: CT, body: JSON.stringify({ schema: JSON.stringify(schema) }) });
  const { id } = (await created.json()) as { id: number };
  return { subject, id, type: Type.forSchema(schema as Parameters<typeof Type.forSchema>[0]) };
}

function paymentFor(user: string, email: string): PaymentSucceeded {
  const event = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
  return { ...event, recipient: { ...event.recipient, email } };
}

describe('a record whose writer schema cannot be read as this build\'s event', () => {
  let ctx: TestContext;
  let rogue: { subject: string; id: number; type: Type };

  beforeAll(async () => {
    ctx = await createTestContext();
    rogue = await registerUnreadableWriter(ctx);
  });

  afterAll(async () => {
    for (const query of ['', '?permanent=true']) await fetch(`${ctx.platform.registry.url}/subjects/${encodeURIComponent(rogue.subject)}${query}`, { method: 'DELETE' });
    await ctx.dispose();
  });

  it('is malformed: decoding names the schema id and why', async () => {
    const value = frame(rogue.id, rogue.type, paymentFor('user-rogue', 'rogue@example.com'));
    const error = await ctx.platform.registry.decode(Buffer.from(value)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MalformedMessageError);
    expect((error as Error).message).toMatch(new RegExp(`^schema ${rogue.id} cannot be read as tidings\\.payment\\.PaymentSucceeded.*payment_id`));
  });

  it('goes to the DLQ with its reason, and the next record of its partition is processed', async () => {
    const consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification'), retryDelaysMs: [500, 1_000] });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    const raw = ctx.platform.kafka.producer();
    await raw.connect();
    try {
      const bad = paymentFor('user-rogue', 'rogue@example.com');
      const [sent] = await raw.send({ topic: ctx.topics.payment, messages: [{ key: 'user-rogue', value: Buffer.from(frame(rogue.id, rogue.type, bad)) }] });
      const next = await publisher.publish('PAYMENT_SUCCEEDED', paymentFor('user-rogue', 'after-rogue@example.com'));
      expect(next.partition).toBe(sent?.partition);

      await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('after-rogue@example.com')), 60_000);
      const dlq = dlqTopic({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] }, ctx.topics.payment);
      await waitFor('the dead letter', async () => (await countRecords(ctx.platform.kafka, dlq)) === 1, 30_000);
      const [dead] = await readTopic(ctx.platform.kafka, dlq);
      expect(dead?.key).toBe('user-rogue');
      expect(dead?.headers).toMatchObject({
        [FAILURE_HEADERS.errorClass]: 'MalformedMessageError',
        [FAILURE_HEADERS.errorCode]: 'MESSAGE_MALFORMED',
        [FAILURE_HEADERS.attempts]: '1',
      });
      expect(dead?.headers[FAILURE_HEADERS.errorMessage]).toMatch(new RegExp(`schema ${rogue.id} cannot be read`));
      expect(ctx.mail.messages.some((m) => m.to.includes('rogue@example.com'))).toBe(false);
      expect(consumer.runtime.stats.retried).toBe(0);
    } finally {
      await raw.disconnect();
      await publisher.disconnect();
      await consumer.stop();
    }
  });
});
