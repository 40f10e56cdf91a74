import { spawn } from 'node:child_process';
import path from 'node:path';
import { startDeadLetterIndex, type DeadLetterIndex } from '../../consumers/dlq-index';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { dlqTopic } from '../../src/consumer/retry-topology';
import type { PaymentSucceeded, UserRegistered } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { DeadLetterStateError } from '../../src/ops/dlq/dead-letter-errors';
import { listDeadLetters, type DeadLetter } from '../../src/ops/dlq/dead-letter-store';
import { inspectDeadLetter } from '../../src/ops/dlq/inspect';
import { DeadLetterRedriver } from '../../src/ops/dlq/redrive';
import { listOperatorActions } from '../../src/ops/operator-actions';
import type { Publisher } from '../../src/producer/publisher';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings } from '../helpers/tidings-cli';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const ADA = 'dlq-ada@example.com';
const BOB = 'dlq-bob@example.com';
const CY = 'dlq-cy@example.com';
const ACTOR = 'oncall@dlq-test';

/**
 * Real dead letters (a mailbox the SMTP server refuses for good, and bytes that are not an
 * event) from the real notification group, indexed by the dead-letter index group, then
 * reviewed through the `tidings dlq` command as an operator runs it.
 */
describe('dead letters: index, list, show, redrive, discard', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let notification: NotificationConsumer;
  let index: DeadLetterIndex | undefined;
  let ada: PaymentSucceeded;
  let bob: UserRegistered;
  const ids: Record<'ada' | 'bob' | 'cy' | 'garbage', string> = { ada: '', bob: '', cy: '', garbage: '' };

  const env = (): Record<string, string> => ({
    DATABASE_URL: ctx.databaseUrl,
    KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
    TIDINGS_ACTOR: ACTOR,
  });
  const dlq = (...args: string[]) => runTidings(['dlq', ...args], env());
  const dlqTopics = () => [dlqTopic({ name: 'notification', sources: [], delaysMs: [] }, ctx.topics.payment), dlqTopic({ name: 'notification', sources: [], delaysMs: [] }, ctx.topics.auth)];
  const rows = async (): Promise<DeadLetter[]> => listDeadLetters(ctx.db, {}, 100);

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 2 });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    notification = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification'), retryDelaysMs: [200] });
    // 550: the mailbox is refused for good, so each event goes straight to the DLQ.
    ctx.mail.refuse({ code: 550, recipients: [ADA, BOB, CY] });
    const payment = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'u-ada' });
    ada = { ...payment, recipient: { ...payment.recipient, email: ADA, name: 'Ada Lovelace' } };
    const registered = sampleEvent('USER_REGISTERED', { user_id: 'u-bob' });
    bob = { ...registered, recipient: { ...registered.recipient, email: BOB } };
    await publisher.publish('PAYMENT_SUCCEEDED', ada);
    await publisher.publish('USER_REGISTERED', bob);
    const unlocked = sampleEvent('ACCOUNT_UNLOCKED', { user_id: 'u-cy' });
    await publisher.publish('ACCOUNT_UNLOCKED', { ...unlocked, recipient: { ...unlocked.recipient, email: CY } });
    const raw = ctx.platform.kafka.producer();
    await raw.connect();
    await raw.send({ topic: ctx.topics.payment, messages: [{ key: 'u-garbage', value: Buffer.from('{"email":"garbage@example.com"}') }] });
    await raw.disconnect();
    await waitFor('four dead letters', () => notification.runtime.stats.deadLettered >= 4, 30_000);

    index = await startDeadLetterIndex(ctx.platform, { groupId: ctx.groupId('dlq-index') });
    const indexed = await waitFor('four dead letters indexed', async () => ((await rows()).length === 4 ? rows() : undefined), 30_000);
    for (const row of indexed) {
      if (row.userId === 'u-ada') ids.ada = row.id;
      else if (row.userId === 'u-bob') ids.bob = row.id;
      else if (row.userId === 'u-cy') ids.cy = row.id;
      else ids.garbage = row.id;
    }
  });

  afterAll(async () => {
    await index?.stop();
    await notification?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  it('indexes each dead letter once, undecodable bytes too, and a restart that reads every DLQ record again adds nothing', async () => {
    const byId = new Map((await rows()).map((r) => [r.id, r]));
    expect(byId.get(ids.ada)).toMatchObject({
      dlqTopic: dlqTopics()[0],
      eventType: 'PAYMENT_SUCCEEDED',
      eventId: ada.event_id,
      userId: 'u-ada',
      key: 'u-ada',
      consumerGroup: ctx.groupId('notification'),
      errorClass: 'ProviderError',
      errorCode: 'PROVIDER_REJECTED',
      attempts: 1,
      sourceTopic: ctx.topics.payment,
      state: 'parked',
    });
    // The SMTP refusal quotes the address; the index keeps the message with it masked.
    expect(byId.get(ids.ada)?.errorMessage).toMatch(/550|refused/);
    expect(byId.get(ids.ada)?.errorMessage).not.toContain(ADA);
    expect(byId.get(ids.bob)).toMatchObject({ dlqTopic: dlqTopics()[1], eventType: 'USER_REGISTERED', userId: 'u-bob', sourceTopic: ctx.topics.auth });
    expect(byId.get(ids.garbage)).toMatchObject({ errorClass: 'MalformedMessageError', errorCode: 'MESSAGE_MALFORMED', eventType: null, userId: 'u-garbage' });

    // The group forgets where it was: every DLQ record is read again, by `tidings run dlq-index`.
    await index?.stop();
    index = undefined;
    const groupId = ctx.groupId('dlq-index');
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    for (const topic of dlqTopics()) await admin.resetOffsets({ groupId, topic, earliest: true });
    await admin.disconnect();
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), 'run', 'dlq-index', '--group-id', groupId, '--topic-prefix', `${ctx.id}.`], {
      env: { ...process.env, ...env(), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitForGroupToCatchUp(ctx.platform.kafka, groupId, dlqTopics(), 45_000);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/error/i);
    expect((await rows()).map((r) => r.id).sort()).toEqual(Object.values(ids).sort());
    expect(await ctx.db('inbox').where({ consumer_group: groupId }).count<{ count: string }[]>()).toEqual([{ count: '4' }]);
  });

  it('lists dead letters by type, error class, topic, user, group and time, as JSON or a table', async () => {
    const byType = await dlq('list', '--type', 'PAYMENT_SUCCEEDED', '--json');
    expect(byType.code).toBe(0);
    expect((JSON.parse(byType.stdout) as DeadLetter[]).map((r) => r.id)).toEqual([ids.ada]);

    const byClass = await dlq('list', '--error-class', 'MalformedMessageError', '--topic', ctx.topics.payment, '--state', 'parked', '--json');
    expect((JSON.parse(byClass.stdout) as DeadLetter[]).map((r) => r.id)).toEqual([ids.garbage]);

    const table = await dlq('list', '--user', 'u-bob', '--group', ctx.groupId('notification'), '--from', '-1h', '--to', 'now');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+DEAD-LETTERED \(UTC\)\s+STATE\s+GROUP\s+TOPIC\s+TYPE\s+USER/);
    expect(lines.slice(1)).toEqual([expect.stringMatching(new RegExp(`^${ids.bob}\\s.*parked.*USER_REGISTERED\\s+u-bob\\s+1\\s+ProviderError PROVIDER_REJECTED`))]);

    const backwards = await dlq('list', '--from', '-1h', '--to', '-2h');
    expect(backwards.code).toBe(1);
    expect(backwards.stderr).toMatch(/--from .* is after --to .*: swap them/);
    expect(await listDeadLetters(ctx.db, { toMs: Date.now() - 3_600_000 }, 10)).toEqual([]);
  });

  it("shows a dead letter decoded from its Kafka record, with the fields its schema marks personal masked", async () => {
    const shown = await dlq('show', ids.ada);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(ada.event_id);
    expect(shown.stdout).toContain('u-ada');
    expect(shown.stdout).toContain('tidings-error-class: ProviderError');
    expect(shown.stdout).toMatch(/personal fields masked: recipient\.email, recipient\.name/);
    expect(shown.stdout).toContain('"email": "***"');
    expect(shown.stdout).toContain(`"payment_id": "${ada.payment_id}"`);
    expect(shown.stdout).not.toContain(ADA);
    expect(shown.stdout).not.toContain('Ada Lovelace');

    // Bytes that do not decode are not shown: nothing says which of them are personal.
    const garbage = await inspectDeadLetter(ctx.platform, ids.garbage);
    expect(garbage.payload).toBeNull();
    expect(garbage.undecodable).toMatchObject({ bytes: 31, wireHeader: null });
    expect(JSON.stringify(garbage)).not.toContain('garbage@example.com');
  });

  it("redrives a dead letter to its group's first retry tier: the email arrives, and a second redrive is refused", async () => {
    ctx.mail.refuse(undefined);
    const first = await dlq('redrive', ids.ada, '--reason', 'mailbox fixed');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`redriven ${ids.ada} to ${ctx.topics.payment}\\.notification\\.retry\\.1 .*1 failed delivery\\(ies\\) reopened`));
    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(ADA)), 30_000);

    const second = await dlq('redrive', ids.ada);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`dead letter ${ids.ada} was already redriven by ${ACTOR} at .* to .*retry\\.1; redrive it again on purpose with --again`));
    expect((await rows()).find((r) => r.id === ids.ada)).toMatchObject({ state: 'redriven', stateChangedBy: ACTOR, stateReason: 'mailbox fixed', redrives: 1 });
    const actions = await listOperatorActions(ctx.db, { action: 'dlq.redrive' });
    expect(actions).toEqual([expect.objectContaining({ actor: ACTOR, target: ids.ada, reason: 'mailbox fixed' })]);
    expect(ctx.mail.to(ADA)).toHaveLength(1);
    expect(notification.runtime.stats.deadLettered).toBe(4);
  });

  it('of two redrives of one dead letter at once, one sends it and the other is refused', async () => {
    const [one, two] = [new DeadLetterRedriver(ctx.platform), new DeadLetterRedriver(ctx.platform)];
    try {
      const outcomes = await Promise.allSettled([one.redrive(ids.cy, { actor: 'one' }), two.redrive(ids.cy, { actor: 'two' })]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: expect.any(DeadLetterStateError) });
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(CY)), 30_000);
    expect(await countRecords(ctx.platform.kafka, `${ctx.topics.auth}.notification.retry.1`)).toBe(1);
    expect(await listOperatorActions(ctx.db, { action: 'dlq.redrive' })).toHaveLength(2);
  });

  it('redrives every dead letter matching filters to the original topic at a rate, with progress lines', async () => {
    const bulk = await dlq('redrive', '--all-matching', '--type', 'USER_REGISTERED', '--user', 'u-bob', '--to-origin', '--rate', '5', '--json');
    expect(bulk.code).toBe(0);
    expect(JSON.parse(bulk.stdout)).toMatchObject({ matched: 1, redriven: 1, skipped: 0, redrivenIds: [ids.bob] });
    const progress = bulk.stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(progress[progress.length - 1]).toMatchObject({ progress: 'redrive', done: 1, total: 1, finished: true });
    // Read again from auth.events: the group's inbox knows the event, the reopened delivery is sent.
    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(BOB)), 30_000);
    expect((await rows()).find((r) => r.id === ids.bob)).toMatchObject({ state: 'redriven', redrivenTo: ctx.topics.auth });
  });

  it('refuses to discard without a reason; with one, records who and why, and a discarded record is not redriven by accident', async () => {
    const refused = await dlq('discard', ids.garbage);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/discarding needs --reason/);
    expect((await rows()).find((r) => r.id === ids.garbage)?.state).toBe('parked');

    const done = await dlq('discard', ids.garbage, '--reason', 'not an event: a broken producer');
    expect(done.code).toBe(0);
    expect((await rows()).find((r) => r.id === ids.garbage)).toMatchObject({ state: 'discarded', stateChangedBy: ACTOR, stateReason: 'not an event: a broken producer' });
    expect(await listOperatorActions(ctx.db, { action: 'dlq.discard' })).toEqual([expect.objectContaining({ actor: ACTOR, target: ids.garbage, reason: 'not an event: a broken producer' })]);

    const redriver = new DeadLetterRedriver(ctx.platform);
    try {
      await expect(redriver.redrive(ids.garbage, { actor: ACTOR })).rejects.toThrow(DeadLetterStateError);
    } finally {
      await redriver.close();
    }
  });
});
