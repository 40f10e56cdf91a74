import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAuditConsumer, type AuditConsumer } from '../../consumers/audit';
import { startDeadLetterIndex, type DeadLetterIndex } from '../../consumers/dlq-index';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { startScheduler, type Scheduler } from '../../consumers/scheduler';
import { createApiApp } from '../../src/api/app';
import { ApiKeys } from '../../src/api/auth/api-keys';
import type { InboundRecord } from '../../src/consumer/messages';
import { LocalKeyManagement } from '../../src/crypto/key-management';
import { openPersonalFields, sealPersonalFields } from '../../src/crypto/personal-fields';
import { getEventDefinition } from '../../src/events/catalog';
import type { Contact, EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { Platform } from '../../src/platform';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, KEY_ID_HEADER, type Publisher } from '../../src/producer/publisher';
import { TEST_USER_TOKEN_SECRET, type Json } from '../helpers/http';
import { dumpDatabaseData } from '../helpers/pg-dump';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings, type CliResult } from '../helpers/tidings-cli';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/** Someone whose email, name and phone are each unique enough to be searched for in a dump. */
function person(tag: string): Contact {
  return { email: `${tag.toLowerCase()}.mailbox@erasure.example.org`, name: `${tag} Quintessa Personname`, phone: `+1415555${String(Math.floor(1000 + Math.random() * 8999))}`, locale: 'en-GB', time_zone: 'Europe/London' };
}

/** What must not be found, in lower case: searches are case-insensitive (addresses are stored lower-cased). */
const secrets = (c: Contact): string[] => [c.email, c.name as string, c.phone as string].map((v) => v.toLowerCase());

function withRecipient<T extends EventType>(type: T, userId: string, recipient: Contact, extra: Partial<EventMap[T]> = {}): EventMap[T] {
  return { ...sampleEvent(type, { user_id: userId, ...extra } as Partial<EventMap[T]>), recipient } as EventMap[T];
}

describe('GDPR erasure: crypto-shredding a user across topics, retry tiers, DLQs and tables', () => {
  let ctx: TestContext;
  let sealing: Platform;
  let publisher: Publisher;
  let relay: OutboxRelay;
  let notification: NotificationConsumer | undefined;
  let audit: AuditConsumer | undefined;
  let scheduler: Scheduler | undefined;
  let dlqIndex: DeadLetterIndex;
  let server: Server;
  let url: string;
  const kek = randomBytes(32);
  const keys: Record<'operate' | 'admin', string> = { operate: '', admin: '' };
  const A = { id: 'u-erased-a', who: person('Annabelle') };
  const B = { id: 'u-kept-b', who: person('Bartholomew') };

  const cliEnv = (withMasterKey: boolean): Record<string, string> => ({
    DATABASE_URL: ctx.databaseUrl,
    KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
    SMTP_URL: ctx.mail.url,
    TIDINGS_TOPIC_PREFIX: `${ctx.id}.`,
    TIDINGS_ACTOR: 'dpo@erasure-test',
    ...(withMasterKey ? { TIDINGS_MASTER_KEY: kek.toString('base64') } : {}),
  });

  const api = async (method: 'POST' | 'PUT', route: string, key: string, body: unknown): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${url}${route}`, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Json };
  };

  const startGroups = async (): Promise<void> => {
    [notification, audit, scheduler] = await Promise.all([
      startNotificationConsumer(sealing, { groupId: ctx.groupId('notification'), retryDelaysMs: [200] }),
      startAuditConsumer(sealing, { groupId: ctx.groupId('audit') }),
      startScheduler(sealing, { groupId: ctx.groupId('scheduler') }),
    ]);
  };
  const stopGroups = async (): Promise<void> => {
    await Promise.all([notification?.stop(), audit?.stop(), scheduler?.stop()]);
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    sealing = new Platform({ endpoints: ctx.platform.endpoints, topics: ctx.topics, clientId: `${ctx.id}-sealing`, keyManagement: new LocalKeyManagement(kek) });
    publisher = sealing.createPublisher();
    await publisher.connect();
    relay = new OutboxRelay({ kafka: sealing.kafka, db: sealing.db, databaseUrl: ctx.databaseUrl, registry: sealing.registry });
    await relay.start();
    const app = createApiApp({ db: ctx.db, platform: sealing, userTokenSecret: TEST_USER_TOKEN_SECRET });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const scope of ['operate', 'admin'] as const) keys[scope] = (await new ApiKeys(ctx.db).create({ name: `test-${scope}`, scope, actor: 'test' })).key;
    await startGroups();
    dlqIndex = await startDeadLetterIndex(sealing, { groupId: ctx.groupId('dlq-index'), rescanIntervalMs: 500 });
  });

  afterAll(async () => {
    await stopGroups();
    await dlqIndex?.stop();
    await relay?.stop();
    await publisher?.disconnect();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await sealing?.close();
    await ctx?.dispose();
  });

  it('after erasing a user, no copy of their email, phone or name is readable anywhere; the other user is untouched', async () => {
    // Both users go through every path: SDK and outbox, email, in-app, audit, scheduler, devices, preferences.
    for (const u of [A, B]) {
      const registered = withRecipient('USER_REGISTERED', u.id, u.who);
      await ctx.db.transaction((trx) => sealing.createOutbox().enqueue(trx, 'USER_REGISTERED', registered));
      const payment = withRecipient('PAYMENT_SUCCEEDED', u.id, u.who);
      const subscription = withRecipient('SUBSCRIPTION_CREATED', u.id, u.who, { renews_at: Date.now() + 30 * 86_400_000 } as never);
      const alert = withRecipient('LOGIN_ALERT', u.id, u.who, { severity: 'HIGH' } as never);
      await Promise.all([publisher.publish('PAYMENT_SUCCEEDED', payment), publisher.publish('SUBSCRIPTION_CREATED', subscription), publisher.publish('LOGIN_ALERT', alert)]);
      expect((await api('PUT', `/users/${u.id}/devices/tok-${u.id}`, keys.operate, { platform: 'ios' })).status).toBe(200);
      expect((await api('PUT', `/users/${u.id}/preferences/marketing/sms`, keys.operate, { optedIn: false })).status).toBe(200);
    }
    // A producer that seals but breaks a business rule (bad locale): every group dead-letters it, sealed.
    const aKey = await sealing.dataKeys!.keyForUser(A.id);
    const { schema } = getEventDefinition('PAYMENT_FAILED');
    const broken = sealPersonalFields(schema, withRecipient('PAYMENT_FAILED', A.id, { ...A.who, locale: 'not a locale!' }), aKey);
    const producer = sealing.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: ctx.topics.payment,
      messages: [{ key: A.id, value: await sealing.registry.encode('PAYMENT_FAILED', ctx.topics.payment, broken), headers: { [EVENT_TYPE_HEADER]: 'PAYMENT_FAILED', [EVENT_ID_HEADER]: broken.event_id, [KEY_ID_HEADER]: aKey.keyId } }],
    });
    await producer.disconnect();

    for (const u of [A, B]) await ctx.mail.waitFor((all) => all.filter((m) => m.to.includes(u.who.email)).length >= 4, 60_000);
    await waitFor('audit rows of both users', async () => Number((await ctx.db('audit_log').whereIn('user_id', [A.id, B.id]).count({ n: '*' }).first())?.n) === 8);
    await waitFor('renewal reminders of both users', async () => Number((await ctx.db('renewal_reminders').whereIn('user_id', [A.id, B.id]).count({ n: '*' }).first())?.n) === 2);
    await waitFor('in-app rows of both users', async () => Number((await ctx.db('in_app_notifications').whereIn('user_id', [A.id, B.id]).count({ n: '*' }).first())?.n) === 6);
    await waitFor('the broken event indexed from the DLQ of each group', async () => Number((await ctx.db('dead_letters').where({ event_id: broken.event_id }).count({ n: '*' }).first())?.n) === 3);

    // Events the groups have not read yet when the erasure happens.
    await stopGroups();
    const lateA = withRecipient('PAYMENT_FAILED', A.id, A.who);
    const lateB = withRecipient('PAYMENT_FAILED', B.id, B.who);
    await Promise.all([publisher.publish('PAYMENT_FAILED', lateA), publisher.publish('PAYMENT_FAILED', lateB)]);

    // Rows an older version wrote before sealing existed: plain address, name and message.
    const legacyEvent = sampleEvent('PAYMENT_FAILED', { user_id: A.id }).event_id;
    const tomorrow = new Date(Date.now() + 86_400_000);
    await ctx.db('delivery_ledger').insert({ event_id: legacyEvent, event_type: 'PAYMENT_FAILED', channel: 'email', recipient: A.who.email, user_id: A.id, status: 'deferred', not_before: tomorrow, message: { to: A.who.email, text: `Dear ${A.who.name}` } });
    await ctx.db('daily_digests').insert({ user_id: A.id, digest_date: '2026-12-24', recipient_email: A.who.email, recipient_name: A.who.name, locale: 'en-GB', time_zone: 'Europe/London', next_attempt_at: tomorrow });

    // The CLI erases without the key-encryption key: destroying a key needs none.
    const unconfirmed = await runTidings(['gdpr', 'erase', A.id], cliEnv(false));
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toContain('--yes');
    const erased: CliResult = await runTidings(['gdpr', 'erase', A.id, '--reason', 'request #4711', '--yes', '--json'], cliEnv(false));
    expect(erased.code).toBe(0);
    const erasure = JSON.parse(erased.stdout) as { id: string; userId: string; destroyedKeyIds: string[]; rowCounts: Record<string, number> };
    expect(erasure).toMatchObject({ userId: A.id, destroyedKeyIds: [aKey.keyId] });
    expect(erasure.rowCounts).toMatchObject({ 'in_app_notifications.deleted': 3, 'device_tokens.deleted': 1, 'notification_preferences.deleted': 1, 'renewal_reminders.cancelled': 1 });
    // The digest of today's payments, and the one written by the older version.
    expect(erasure.rowCounts['daily_digests.cancelled']).toBe(2);
    expect(await ctx.db('delivery_ledger').where({ event_id: legacyEvent }).first()).toMatchObject({ status: 'suppressed', reason: 'user_erased', message: null });
    expect(erasure.rowCounts['delivery_ledger.anonymised']).toBeGreaterThanOrEqual(4);
    expect(await ctx.db('erasures').where({ id: erasure.id }).first()).toMatchObject({ user_id: A.id, actor: 'dpo@erasure-test', reason: 'request #4711', destroyed_key_ids: [aKey.keyId] });
    expect(await ctx.db('operator_actions').where({ action: 'gdpr.erase', target: A.id }).first()).toMatchObject({ actor: 'dpo@erasure-test', reason: 'request #4711' });
    expect(await ctx.db('renewal_reminders').where({ user_id: A.id }).first()).toMatchObject({ status: 'cancelled', recipient_name: null });
    expect(await ctx.db('renewal_reminders').where({ user_id: B.id }).first()).toMatchObject({ status: 'scheduled' });

    // Consumed after the erasure: A's late event is skipped with the ledger's reason, B's goes out.
    await startGroups();
    await ctx.mail.waitFor((all) => all.filter((m) => m.to.includes(B.who.email)).length >= 5, 60_000);
    await waitFor("A's late event recorded as skipped", async () => (await ctx.db('delivery_ledger').where({ event_id: lateA.event_id })).length > 0);
    const skipped = await ctx.db('delivery_ledger').where({ event_id: lateA.event_id });
    expect(skipped.map((r: { status: string; reason: string }) => [r.status, r.reason])).toEqual(skipped.map(() => ['suppressed', 'user_erased']));
    await waitFor('the audit group past the late events', async () => (await ctx.db('audit_log').where({ event_id: lateB.event_id })).length === 1);
    await waitFor('the audit group to skip A’s late event', () => (audit?.runtime.stats.erased ?? 0) >= 1);
    expect(await ctx.db('audit_log').where({ event_id: lateA.event_id })).toHaveLength(0);
    expect(ctx.mail.messages.filter((m) => m.to.includes(A.who.email))).toHaveLength(4);
    expect(notification?.runtime.stats).toMatchObject({ deadLettered: 0 });

    // Replay every topic through every group: A's records are counted as erased, nothing fails.
    for (const group of ['notification', 'audit', 'scheduler']) {
      const replayed = await runTidings(['replay', '--group', group, '--group-id', ctx.groupId(group), '--from', '-1h', '--json'], cliEnv(true));
      expect({ group, code: replayed.code, stderr: replayed.code === 0 ? '' : replayed.stderr }).toEqual({ group, code: 0, stderr: '' });
      const counts = (JSON.parse(replayed.stdout) as { counts: { erased: number; deadLettered: number } }).counts;
      expect({ group, erased: counts.erased >= (group === 'scheduler' ? 4 : 6), deadLettered: counts.deadLettered }).toEqual({ group, erased: true, deadLettered: 0 });
    }
    const dryRun = await runTidings(['replay', '--group', 'notification', '--group-id', ctx.groupId('notification'), '--from', '-1h', '--dry-run', '--json'], cliEnv(true));
    expect(dryRun.code).toBe(0);
    for (const secret of secrets(A.who)) expect(dryRun.stdout.toLowerCase()).not.toContain(secret);
    // An operator looking at the erased user's dead letter sees it masked, never ciphertext.
    const deadLetter = (await ctx.db('dead_letters').where({ event_id: broken.event_id }).first('id')) as { id: string };
    const shown = await runTidings(['dlq', 'show', String(deadLetter.id), '--json'], cliEnv(true));
    expect(shown.code).toBe(0);
    expect((JSON.parse(shown.stdout) as { payload: { recipient: Contact } }).payload.recipient).toMatchObject({ email: '***', name: '***', phone: '***' });
    expect(shown.stdout).not.toContain('tdk1:');

    // Every record of every topic, retry tier and DLQ of this test, raw.
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${ctx.id}.`));
    await admin.disconnect();
    expect(topics.filter((t) => t.endsWith('.dlq')).length).toBeGreaterThanOrEqual(3);
    const records: InboundRecord[] = [];
    for (const topic of topics) records.push(...(await readTopic(ctx.platform.kafka, topic)));
    const raw = (r: InboundRecord): string => `${r.key ?? ''}\n${r.value?.toString('latin1') ?? ''}\n${JSON.stringify(r.headers)}`.toLowerCase();
    for (const secret of secrets(A.who)) {
      const leaks = records.filter((r) => raw(r).includes(secret)).map((r) => `${r.topic}/${r.partition}/${r.offset}`);
      expect({ secret, leaks }).toEqual({ secret, leaks: [] });
    }
    // B's copies are still readable with B's key, A's can never be opened again.
    const readable = async (r: InboundRecord): Promise<Record<string, unknown> | 'erased' | 'not an event'> => {
      try {
        const decoded = await sealing.registry.decode(r.value);
        return await openPersonalFields(decoded.definition.schema, decoded.payload, sealing.dataKeys);
      } catch (error) {
        return (error as { code?: string }).code === 'USER_ERASED' ? 'erased' : 'not an event';
      }
    };
    const events = records.filter((r) => r.key === A.id || r.key === B.id);
    for (const r of events) {
      const result = await readable(r);
      if (r.key === A.id) expect({ at: `${r.topic}/${r.offset}`, result }).toEqual({ at: `${r.topic}/${r.offset}`, result: 'erased' });
      else expect({ at: `${r.topic}/${r.offset}`, email: (result as { recipient: Contact }).recipient.email }).toEqual({ at: `${r.topic}/${r.offset}`, email: B.who.email });
    }
    expect(events.filter((r) => r.key === A.id && r.topic.endsWith('.dlq')).length).toBeGreaterThanOrEqual(3);

    // The whole database, as a backup would hold it.
    const dump = await dumpDatabaseData(ctx.databaseUrl);
    expect(dump).toContain(A.id);
    expect(dumpLeaks(dump, secrets(A.who))).toEqual([]);
  });

  it('the admin API erases a user with an admin key only, and records who did it', async () => {
    const C = { id: 'u-api-c', who: person('Cornelius') };
    await publisher.publish('TWO_FACTOR_ENABLED', withRecipient('TWO_FACTOR_ENABLED', C.id, C.who));
    const key = await waitFor("C's data key", async () => ctx.db('user_data_keys').where({ user_id: C.id }).whereNull('destroyed_at').first());

    expect((await api('POST', `/admin/users/${C.id}/erasure`, keys.operate, { reason: 'ticket 9' })).status).toBe(403);
    expect(await ctx.db('user_data_keys').where({ key_id: key.key_id }).whereNull('destroyed_at')).toHaveLength(1);

    const done = await api('POST', `/admin/users/${C.id}/erasure`, keys.admin, { reason: 'ticket 9' });
    expect(done.status).toBe(200);
    expect(done.body.erasure).toMatchObject({ userId: C.id, actor: 'apikey:test-admin', reason: 'ticket 9', destroyedKeyIds: [key.key_id] });
    expect(await ctx.db('user_data_keys').where({ key_id: key.key_id }).first()).toMatchObject({ wrapped_key: null });
    expect(await ctx.db('operator_actions').where({ action: 'gdpr.erase', target: C.id }).first()).toMatchObject({ actor: 'apikey:test-admin' });

    // Again: nothing left to destroy, recorded all the same.
    const again = await api('POST', `/admin/users/${C.id}/erasure`, keys.admin, {});
    expect(again.body.erasure).toMatchObject({ userId: C.id, destroyedKeyIds: [] });
    expect(await ctx.db('erasures').where({ user_id: C.id })).toHaveLength(2);
  });
});

/** Which table (COPY block) of a plain-text pg_dump holds which of `secrets`, as `table: secret`. */
function dumpLeaks(dump: string, secrets: string[]): string[] {
  const leaks: string[] = [];
  let table = '(schema)';
  for (const line of dump.split('\n')) {
    const copy = /^COPY ([^ ]+) \(/.exec(line);
    if (copy) table = copy[1] as string;
    const lower = line.toLowerCase();
    for (const secret of secrets) if (lower.includes(secret)) leaks.push(`${table}: ${secret}`);
  }
  return [...new Set(leaks)];
}
