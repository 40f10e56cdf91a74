import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import type { EventRecord } from '../../src/consumer/messages';
import { LocalKeyManagement } from '../../src/crypto/key-management';
import { isSealed } from '../../src/crypto/personal-cipher';
import type { Contact, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { createLogger } from '../../src/observability/logger';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { Platform } from '../../src/platform';
import { KEY_ID_HEADER, type Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/** A person with every personal field given, distinct enough to be searched for in raw bytes. */
function person(tag: string): Contact {
  return { email: `${tag}@sealed.example.com`, name: `Name ${tag} Surname`, phone: `+1415555${String(1000 + Math.floor(Math.random() * 8999))}`, locale: 'en-GB', time_zone: 'Europe/London' };
}

/** The personal part of a decoded contact, as a plain object. */
function personalOf(contact: unknown): Pick<Contact, 'email' | 'name' | 'phone'> {
  const { email, name, phone } = contact as Contact;
  return { email, name, phone };
}

function plaintextOf(contact: Contact): string[] {
  return [contact.email, contact.name, contact.phone].filter((v): v is string => typeof v === 'string');
}

/** A consumer group whose handler keeps what it was given (the real runtime, broker and registry). */
function collectingRuntime(platform: Platform, groupId: string, withKeys: boolean, logs: string[]): { runtime: ConsumerRuntime; seen: EventRecord[] } {
  const seen: EventRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const runtime = new ConsumerRuntime({
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    dataKeys: withKeys ? platform.dataKeys : undefined,
    groupId,
    name: groupId.split('.').pop() as string,
    topics: [platform.topics.auth, platform.topics.payment],
    outageBackoff: { initialMs: 50, maxMs: 200 },
    handler: { apply: async (events) => void seen.push(...events) },
    logger: createLogger(groupId, 'warn', stream),
  });
  return { runtime, seen };
}

describe('personal fields sealed per user in events', () => {
  let ctx: TestContext;
  let sealing: Platform;
  let plain: Platform;
  let publisher: Publisher;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    const base = { endpoints: ctx.platform.endpoints, topics: ctx.topics };
    sealing = new Platform({ ...base, clientId: `${ctx.id}-sealing`, keyManagement: new LocalKeyManagement(randomBytes(32)) });
    plain = new Platform({ ...base, clientId: `${ctx.id}-plain`, keyManagement: null });
    publisher = sealing.createPublisher();
    await publisher.connect();
  });

  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await publisher?.disconnect();
    await sealing?.close();
    await plain?.close();
    await ctx?.dispose();
  });

  const keyIdOf = async (userId: string): Promise<string> => ((await ctx.db('user_data_keys').where({ user_id: userId }).whereNull('destroyed_at').first('key_id')) as { key_id: string }).key_id;

  it('the SDK and the outbox seal them before anything leaves the service: the records and the outbox row hold no plaintext, and the notification group opens them to send', async () => {
    const viaSdk = { ...sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'u-sdk' }), recipient: person('sdk-user') };
    await publisher.publish('PAYMENT_SUCCEEDED', viaSdk);

    const viaOutbox = { ...sampleEvent('USER_REGISTERED', { user_id: 'u-outbox' }), recipient: person('outbox-user') };
    await ctx.db.transaction((trx) => sealing.createOutbox().enqueue(trx, 'USER_REGISTERED', viaOutbox));
    const row = (await ctx.db('outbox').where({ event_id: viaOutbox.event_id }).first()) as { value: Buffer; headers: Record<string, string> };
    for (const text of plaintextOf(viaOutbox.recipient)) expect(row.value.includes(text)).toBe(false);
    expect(row.headers[KEY_ID_HEADER]).toBe(await keyIdOf('u-outbox'));

    const relay = new OutboxRelay({ kafka: sealing.kafka, db: sealing.db, databaseUrl: ctx.databaseUrl, registry: sealing.registry });
    await relay.start();
    stops.push(() => relay.stop());

    for (const [event, topic] of [
      [viaSdk, ctx.topics.payment],
      [viaOutbox, ctx.topics.auth],
    ] as const) {
      const record = await waitFor(`${event.event_id} on ${topic}`, async () => (await readTopic(ctx.platform.kafka, topic)).find((r) => r.key === event.user_id));
      for (const text of plaintextOf(event.recipient)) expect({ text, inRecord: record.value?.includes(text) }).toEqual({ text, inRecord: false });
      expect(record.headers[KEY_ID_HEADER]).toBe(await keyIdOf(event.user_id));
      const decoded = await ctx.platform.registry.decode(record.value);
      const recipient = decoded.payload.recipient as Record<string, string>;
      expect([isSealed(recipient.email), isSealed(recipient.name), isSealed(recipient.phone)]).toEqual([true, true, true]);
      expect(decoded.payload.user_id).toBe(event.user_id);
    }

    const notification: NotificationConsumer = await startNotificationConsumer(sealing, { groupId: ctx.groupId('notification') });
    stops.push(() => notification.stop());
    await ctx.mail.waitFor((all) => [viaSdk, viaOutbox].every((e) => all.some((m) => m.to.includes(e.recipient.email))), 60_000);
    expect(ctx.mail.to(viaSdk.recipient.email)[0]?.text).toContain(viaSdk.recipient.name);
    expect(ctx.mail.to(viaOutbox.recipient.email)[0]?.text).toContain(viaOutbox.recipient.name);
  });

  it("keeps each user's events in publish order while their first key is being created", async () => {
    const users = ['u-order-a', 'u-order-b', 'u-order-c'];
    const sent: Array<{ userId: string; eventId: string; promise: Promise<unknown> }> = [];
    // Not awaited one by one: every user's first publish waits for their new key, later ones queue behind it.
    for (let i = 0; i < 60; i++) {
      const userId = users[i % users.length] as string;
      const type: EventType = i % 2 === 0 ? 'LOGIN_ALERT' : 'ACCOUNT_LOCKED';
      const event = { ...sampleEvent(type, { user_id: userId } as never), recipient: person(`order-${i}`) };
      sent.push({ userId, eventId: event.event_id, promise: publisher.publish(type, event as never) });
    }
    await Promise.all(sent.map((s) => s.promise));
    const records = await readTopic(ctx.platform.kafka, ctx.topics.auth);
    for (const userId of users) {
      const onTopic = records
        .filter((r) => r.key === userId)
        .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)))
        .map((r) => r.headers['tidings-event-id']);
      expect({ userId, order: onTopic }).toEqual({ userId, order: sent.filter((s) => s.userId === userId).map((s) => s.eventId) });
    }
  });

  it('a group without a key-encryption key pauses on sealed records, naming TIDINGS_MASTER_KEY, dead-letters nothing, and a group with it then processes them all', async () => {
    const event = { ...sampleEvent('PAYMENT_FAILED', { user_id: 'u-nokms' }), recipient: person('nokms-user') };
    await publisher.publish('PAYMENT_FAILED', event);
    const groupId = ctx.groupId('no-kms');
    const logs: string[] = [];
    const blind = collectingRuntime(plain, groupId, false, logs);
    await blind.runtime.start();
    await waitFor('the group to pause on a sealed record', () => blind.runtime.stats.infrastructureRetries >= 3);
    expect(logs.join('')).toContain('TIDINGS_MASTER_KEY');
    expect(blind.runtime.stats).toMatchObject({ deadLettered: 0, malformed: 0, retried: 0 });
    expect(blind.seen.find((e) => e.eventId === event.event_id)).toBeUndefined();
    await blind.runtime.stop();

    // Same group, now with the keys: nothing was lost or skipped meanwhile.
    const seeing = collectingRuntime(sealing, groupId, true, []);
    await seeing.runtime.start();
    stops.push(() => seeing.runtime.stop());
    const got = await waitFor('the sealed event, opened', () => seeing.seen.find((e) => e.eventId === event.event_id));
    expect(personalOf(got.payload.recipient)).toEqual(personalOf(event.recipient));
    expect(seeing.runtime.stats.deadLettered).toBe(0);
  });

  it('events of a producer that does not seal (sealing off, another language) pass as before: sent as they are and read as they are', async () => {
    const plainPublisher = plain.createPublisher();
    await plainPublisher.connect();
    stops.push(() => plainPublisher.disconnect());
    const event = { ...sampleEvent('TWO_FACTOR_ENABLED', { user_id: 'u-plain' }), recipient: person('plain-user') };
    const { partition, offset } = await plainPublisher.publish('TWO_FACTOR_ENABLED', event);
    const record = (await readTopic(ctx.platform.kafka, ctx.topics.auth)).find((r) => r.partition === partition && r.offset === offset);
    expect(record?.value?.includes(event.recipient.email)).toBe(true);
    expect(record?.headers[KEY_ID_HEADER]).toBeUndefined();

    const withKeys = collectingRuntime(sealing, ctx.groupId('plain-with-keys'), true, []);
    await withKeys.runtime.start();
    stops.push(() => withKeys.runtime.stop());
    const got = await waitFor('the plain event', () => withKeys.seen.find((e) => e.eventId === event.event_id));
    expect(personalOf(got.payload.recipient)).toEqual(personalOf(event.recipient));
  });
});
