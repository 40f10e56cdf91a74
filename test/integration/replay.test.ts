import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import type { EventMap, EventType } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { ensureTopics } from '../../src/kafka/topics';
import { REPLAY_HEADERS } from '../../src/ops/replay/republish-sink';
import type { Publisher, PublishResult } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings, type CliResult } from '../helpers/tidings-cli';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * `tidings replay` as an operator runs it (its own process) beside a live notification group
 * that keeps running. One context for the file; each test has its own users and time window.
 */
let ctx: TestContext;
let publisher: Publisher;
let live: NotificationConsumer;

beforeAll(async () => {
  ctx = await createTestContext();
  publisher = ctx.platform.createPublisher();
  await publisher.connect();
  live = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification') });
  await live.runtime.waitForAssignment();
});

afterAll(async () => {
  await live?.stop();
  await publisher?.disconnect();
  await ctx?.dispose();
});

function cliEnv(): Record<string, string> {
  return {
    DATABASE_URL: ctx.databaseUrl,
    KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
    SMTP_URL: ctx.mail.url,
    TIDINGS_ACTOR: 'oncall@replay-test',
  };
}

/** `tidings replay …` as a process; `child` lets a test press Ctrl-C. */
function replay(args: string[]): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), 'replay', ...args, '--topic-prefix', `${ctx.id}.`], {
    // At info level components log as they start: those lines must go to stderr, never into a --json result.
    env: { ...process.env, LOG_LEVEL: 'info', ...cliEnv() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, result };
}

const run = (args: string[]): Promise<CliResult> => replay(args).result;

/** The result of a `--json` run: stdout holds that JSON document alone (logs go to stderr). */
function lastJson<T = Record<string, any>>(out: CliResult): T {
  try {
    return JSON.parse(out.stdout) as T;
  } catch {
    throw new Error(`no JSON result (exit ${out.code}):\n${out.stdout}\n${out.stderr}`);
  }
}

const group = (): string[] => ['--group', 'notification', '--group-id', ctx.groupId('notification')];

function payment(user: string, email: string): EventMap['PAYMENT_SUCCEEDED'] {
  const e = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user });
  return { ...e, recipient: { ...e.recipient, email } };
}

function event<T extends EventType>(type: T, user: string, email: string): EventMap[T] {
  const e = sampleEvent(type, { user_id: user } as Partial<EventMap[T]>);
  return { ...e, recipient: { ...e.recipient, email } };
}

async function emailsTo(addresses: string[]): Promise<number> {
  return ctx.mail.messages.filter((m) => m.to.some((t) => addresses.includes(t))).length;
}

async function waitProcessed(eventIds: string[]): Promise<void> {
  await waitFor('the live group to process the events', async () => {
    const done = await ctx.db('delivery_ledger').whereIn('event_id', eventIds).where({ channel: 'email', status: 'sent' }).count({ n: '*' }).first();
    return Number(done?.n) === eventIds.length;
  });
}

/** As if one event's effects were lost (restored from an older backup): the group has no trace of it. */
async function forget(eventId: string): Promise<void> {
  await ctx.db('inbox').where({ consumer_group: ctx.groupId('notification'), event_id: eventId }).delete();
  await ctx.db('receipts').where({ event_id: eventId }).delete();
  await ctx.db('delivery_ledger').where({ event_id: eventId }).delete();
}

/** `--offsets` covering exactly these published records, per partition. */
function offsetsOf(published: PublishResult[]): string {
  const byPartition = new Map<number, bigint[]>();
  for (const p of published) byPartition.set(p.partition, [...(byPartition.get(p.partition) ?? []), BigInt(p.offset)]);
  return [...byPartition].map(([partition, offsets]) => `${partition}:${offsets.reduce((a, b) => (a < b ? a : b))}-${offsets.reduce((a, b) => (a > b ? a : b))}`).join(',');
}

async function liveOffsets(): Promise<string> {
  const admin = ctx.platform.kafka.admin();
  await admin.connect();
  try {
    return JSON.stringify(await admin.fetchOffsets({ groupId: ctx.groupId('notification'), topics: [ctx.topics.auth, ctx.topics.payment] }));
  } finally {
    await admin.disconnect();
  }
}

async function rowCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['inbox', 'receipts', 'delivery_ledger', 'legal_records', 'in_app_notifications', 'replay_jobs', 'operator_actions']) {
    out[table] = Number((await ctx.db(table).count({ n: '*' }).first())?.n);
  }
  return out;
}

describe('tidings replay', () => {
  it('by time with --type and --user: a dry run changes nothing, a reprocess restores what the group lost and skips the rest, and a second one adds nothing', async () => {
    const user = 'replay-time';
    const from = new Date().toISOString();
    const payments = [payment(user, 'time-1@example.com'), payment(user, 'time-2@example.com'), payment(user, 'time-3@example.com')];
    const published = [];
    for (const p of payments) published.push(await publisher.publish('PAYMENT_SUCCEEDED', p));
    // Filtered out: another type for the user, and the same type for another user.
    published.push(await publisher.publish('USER_REGISTERED', event('USER_REGISTERED', user, 'time-reg@example.com')));
    published.push(await publisher.publish('PAYMENT_SUCCEEDED', payment('replay-time-other', 'time-other@example.com')));
    await waitProcessed(published.map((p) => p.eventId));
    const to = new Date().toISOString();
    const lost = payments[1]!;
    await forget(lost.event_id);
    const args = [...group(), '--from', from, '--to', to, '--type', 'PAYMENT_SUCCEEDED', '--user', user, '--json'];

    const offsetsBefore = await liveOffsets();
    const rowsBefore = await rowCounts();
    const mailsBefore = ctx.mail.messages.length;
    const dry = await run([...args, '--dry-run']);
    expect(dry.code).toBe(0);
    const scan = lastJson(dry);
    expect(scan).toMatchObject({ dryRun: true, mode: 'reprocess', counts: { read: 5, matched: 3, filteredOut: 2, malformed: 0, byType: { PAYMENT_SUCCEEDED: 3 } }, alreadyProcessed: 2 });
    const perPartition = scan.partitions.filter((p: { matched: number }) => p.matched > 0);
    expect(perPartition.reduce((n: number, p: { matched: number }) => n + p.matched, 0)).toBe(3);
    expect(perPartition.every((p: { topic: string; matched: number; byType: Record<string, number> }) => p.topic === ctx.topics.payment && p.byType.PAYMENT_SUCCEEDED === p.matched)).toBe(true);
    expect(await liveOffsets()).toBe(offsetsBefore);
    expect(await rowCounts()).toEqual(rowsBefore);
    expect(ctx.mail.messages.length).toBe(mailsBefore);

    const first = await run(args);
    expect(first.code).toBe(0);
    expect(lastJson(first)).toMatchObject({ status: 'done', counts: { read: 5, matched: 3, filteredOut: 2, processed: 1, skipped: 2 } });
    expect(await ctx.db('receipts').where({ event_id: lost.event_id })).toHaveLength(1);
    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('time-2@example.com') && m.receivedAt.getTime() > Date.parse(to)));
    expect(await emailsTo(['time-1@example.com', 'time-3@example.com', 'time-reg@example.com', 'time-other@example.com'])).toBe(4);
    // The live group was neither stopped nor rewound.
    expect(await liveOffsets()).toBe(offsetsBefore);

    const receipts = Number((await ctx.db('receipts').count({ n: '*' }).first())?.n);
    const mails = ctx.mail.messages.length;
    const second = await run(args);
    expect(second.code).toBe(0);
    expect(lastJson(second)).toMatchObject({ status: 'done', counts: { matched: 3, processed: 0, skipped: 3 } });
    expect(Number((await ctx.db('receipts').count({ n: '*' }).first())?.n)).toBe(receipts);
    expect(ctx.mail.messages.length).toBe(mails);
    const jobs = await ctx.db('replay_jobs').where({ mode: 'reprocess', status: 'done' });
    expect(jobs.length).toBeGreaterThanOrEqual(2);
  });

  it('by offsets with --type: only the chosen records of one topic go through the group', async () => {
    const user = 'replay-offsets';
    const payments = [payment(user, 'off-1@example.com'), payment(user, 'off-2@example.com')];
    const published = [];
    for (const p of payments) published.push(await publisher.publish('PAYMENT_SUCCEEDED', p));
    published.push(await publisher.publish('PAYMENT_FAILED', event('PAYMENT_FAILED', user, 'off-failed@example.com')));
    await waitProcessed(published.map((p) => p.eventId));
    await forget(payments[0]!.event_id);

    const out = await run([...group(), '--topic', 'payment.events', '--offsets', offsetsOf(published), '--type', 'PAYMENT_SUCCEEDED', '--json']);
    expect(out.code).toBe(0);
    expect(lastJson(out)).toMatchObject({ status: 'done', counts: { read: 3, matched: 2, filteredOut: 1, processed: 1, skipped: 1 } });
    expect(await ctx.db('receipts').where({ event_id: payments[0]!.event_id })).toHaveLength(1);
    await ctx.mail.waitFor((all) => all.filter((m) => m.to.includes('off-1@example.com')).length === 2);
  });

  it('republishes by time with --user and by offsets with --type, keeping key, value and headers and adding the replay headers', async () => {
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    const copies = { time: `${ctx.id}.copy-time`, offsets: `${ctx.id}.copy-offsets` };
    await ensureTopics(admin, [{ topic: copies.time, partitions: 3 }, { topic: copies.offsets, partitions: 3 }]);
    await admin.disconnect();
    const user = 'replay-copy';
    const from = new Date().toISOString();
    const published = [
      await publisher.publish('PAYMENT_SUCCEEDED', payment(user, 'copy-1@example.com')),
      await publisher.publish('USER_REGISTERED', event('USER_REGISTERED', user, 'copy-2@example.com')),
      await publisher.publish('PAYMENT_FAILED', event('PAYMENT_FAILED', user, 'copy-3@example.com')),
      await publisher.publish('PAYMENT_SUCCEEDED', payment('replay-copy-other', 'copy-4@example.com')),
    ];
    const to = new Date().toISOString();
    const ids = published.map((p) => p.eventId);
    const sources = [...(await readTopic(ctx.platform.kafka, ctx.topics.auth)), ...(await readTopic(ctx.platform.kafka, ctx.topics.payment))].filter((r) =>
      ids.includes(r.headers['tidings-event-id'] ?? ''),
    );

    const byTime = await run(['--to-topic', 'copy-time', '--from', from, '--to', to, '--user', user, '--reason', 'debugging a user', '--json']);
    expect(byTime.code).toBe(0);
    const timeJob = lastJson(byTime);
    expect(timeJob).toMatchObject({ status: 'done', counts: { read: 4, matched: 3, filteredOut: 1, republished: 3 } });
    const byOffsets = await run(['--to-topic', copies.offsets, '--topic', 'payment.events', '--offsets', offsetsOf(published.filter((p) => p.topic === ctx.topics.payment)), '--type', 'PAYMENT_SUCCEEDED', '--json']);
    expect(byOffsets.code).toBe(0);
    const offsetsJob = lastJson(byOffsets);
    expect(offsetsJob).toMatchObject({ status: 'done', counts: { read: 3, matched: 2, filteredOut: 1, republished: 2 } });

    const expectCopies = async (topic: string, wanted: string[], replayId: string): Promise<void> => {
      const copied = await readTopic(ctx.platform.kafka, topic);
      expect(copied.map((c) => c.headers['tidings-event-id']).sort()).toEqual([...wanted].sort());
      for (const copy of copied) {
        const source = sources.find((s) => s.headers['tidings-event-id'] === copy.headers['tidings-event-id'])!;
        expect(copy.key).toBe(source.key);
        expect(copy.value?.equals(source.value!)).toBe(true);
        expect(copy.headers).toEqual({
          ...source.headers,
          [REPLAY_HEADERS.sourceTopic]: source.topic,
          [REPLAY_HEADERS.sourcePartition]: String(source.partition),
          [REPLAY_HEADERS.sourceOffset]: source.offset,
          [REPLAY_HEADERS.replayId]: replayId,
        });
      }
    };
    await expectCopies(copies.time, ids.slice(0, 3), timeJob.id);
    await expectCopies(copies.offsets, [ids[0]!, ids[3]!], offsetsJob.id);
    const actions = await ctx.db('operator_actions').where({ action: 'replay.republish' }).orderBy('id');
    expect(actions.map((a) => [a.actor, a.target, a.reason, a.details.replayId])).toEqual([
      ['oncall@replay-test', copies.time, 'debugging a user', timeJob.id],
      ['oncall@replay-test', copies.offsets, null, offsetsJob.id],
    ]);
  });

  it('--resend asks first (refused without --yes off a terminal), then sends again exactly what it announced, and is recorded', async () => {
    const user = 'replay-resend';
    const from = new Date().toISOString();
    const published = [
      await publisher.publish('PAYMENT_SUCCEEDED', payment(user, 'resend-1@example.com')),
      await publisher.publish('PAYMENT_SUCCEEDED', payment(user, 'resend-2@example.com')),
      await publisher.publish('INVOICE_GENERATED', event('INVOICE_GENERATED', user, 'resend-3@example.com')),
    ];
    await waitProcessed(published.map((p) => p.eventId));
    const to = new Date().toISOString();
    const addresses = ['resend-1@example.com', 'resend-2@example.com', 'resend-3@example.com'];
    expect(await emailsTo(addresses)).toBe(3);
    const args = [...group(), '--resend', '--from', from, '--to', to, '--user', user, '--reason', 'receipt template fixed', '--json'];

    const refused = await run(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/stdin is not a terminal: add --yes/);
    expect(await ctx.db('operator_actions').where({ action: 'replay.resend' })).toHaveLength(0);

    const out = await run([...args, '--yes']);
    expect(out.code).toBe(0);
    const result = lastJson(out);
    expect(result.announcement).toMatchObject({ events: 3, notYetProcessed: 0, sends: { PAYMENT_SUCCEEDED: { email: 2, in_app: 2 }, INVOICE_GENERATED: { email: 1 } }, total: 5 });
    expect(result.counts).toMatchObject({ matched: 3, resent: 3, sends: { email: { sent: 2 + 1 }, in_app: { sent: 2 } } });
    await ctx.mail.waitFor((all) => all.filter((m) => m.to.some((t) => addresses.includes(t))).length >= 6);
    expect(await emailsTo(addresses)).toBe(6);
    // The first sends keep their rows; the re-sends have rows of their own.
    expect(await ctx.db('delivery_ledger').whereIn('event_id', published.map((p) => p.eventId)).where({ channel: 'email', status: 'sent' })).toHaveLength(3);
    expect(await ctx.db('receipts').whereIn('event_id', published.map((p) => p.eventId))).toHaveLength(2);
    const [action] = await ctx.db('operator_actions').where({ action: 'replay.resend' });
    expect(action).toMatchObject({ actor: 'oncall@replay-test', target: ctx.groupId('notification'), reason: 'receipt template fixed' });
    expect(action.details).toMatchObject({ replayId: result.id, announced: { events: 3 } });
  });

  it('Ctrl-C stops after the chunk in progress and prints how to resume; resume finishes and the totals add up', async () => {
    const user = 'replay-ctrl-c';
    const from = new Date().toISOString();
    const published = [];
    for (let i = 0; i < 24; i++) published.push(await publisher.publish('PAYMENT_SUCCEEDED', payment(user, `ctrl-c-${i}@example.com`)));
    await publisher.publish('PAYMENT_SUCCEEDED', payment('replay-ctrl-c-other', 'ctrl-c-other@example.com'));
    await waitProcessed(published.map((p) => p.eventId));
    const to = new Date().toISOString();

    const { child, result } = replay([...group(), '--from', from, '--to', to, '--user', user, '--rate', '4', '--json']);
    const job = await waitFor('the replay to save its first chunk', async () => {
      const row = await ctx.db('replay_jobs').where({ status: 'running' }).whereRaw(`request->>'user' = ?`, [user]).first();
      return row && row.counts.read > 0 ? row : undefined;
    });
    child.kill('SIGINT');
    const stopped = await result;
    expect(stopped.code).toBe(130);
    const interrupted = lastJson(stopped);
    expect(interrupted).toMatchObject({ id: job.id, status: 'interrupted', resume: `tidings replay resume ${job.id}` });
    expect(interrupted.counts.read).toBeLessThan(25);
    const saved = await ctx.db('replay_jobs').where({ id: job.id }).first();
    expect(saved).toMatchObject({ status: 'interrupted' });
    expect(saved.counts).toEqual(interrupted.counts);

    const listed = lastJson<Array<{ id: string; status: string }>>(await run(['list', '--status', 'interrupted', '--json']));
    expect(listed.map((j) => j.id)).toContain(job.id);

    expect(stopped.stderr).toMatch(/stopping after the chunk in progress/);
    // A unique prefix of the id is enough; --rate changes the pace of the rest.
    const resumed = await run(['resume', job.id.slice(0, 8), '--rate', '1000', '--json']);
    expect(resumed.code).toBe(0);
    const done = lastJson(resumed);
    expect(done).toMatchObject({ id: job.id, status: 'done', total: 25, counts: { read: 25, matched: 24, filteredOut: 1, processed: 0, skipped: 24 } });
    const again = await run(['resume', job.id, '--json']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is done already/);
  });

  it('refuses bad input with the reason and the fix', async () => {
    const [reversed, unknownTopic, unknownGroup, badOffsets] = await Promise.all([
      run([...group(), '--from', '-1h', '--to', '-2h']),
      run([...group(), '--from', '-1h', '--topic', 'nope.events']),
      run(['--group', 'billing', '--from', '-1h']),
      run([...group(), '--topic', 'payment.events', '--offsets', '0:200-100']),
    ]);
    for (const out of [reversed, unknownTopic, unknownGroup, badOffsets]) expect(out.code).toBe(1);
    expect(reversed.stderr).toMatch(/--from \(.*\) is after --to \(.*\): swap them/);
    expect(unknownTopic.stderr).toMatch(/--topic: unknown topic "nope.events" \(nor ".*\.nope\.events"\); existing topics: \S/);
    expect(unknownGroup.stderr).toMatch(/--group must be one of notification, audit, analytics, scheduler/);
    expect(badOffsets.stderr).toMatch(/--offsets: "0:200-100" has its first offset after its last/);
    // No --topic, and the prefix names topics nobody created: the fix, not a broker error.
    const noTopics = await runTidings(['replay', '--group', 'audit', '--from', '-1h', '--dry-run', '--topic-prefix', `${ctx.id}.absent.`], cliEnv());
    expect(noTopics.code).toBe(1);
    expect(noTopics.stderr).toContain(`the event topic(s) ${ctx.id}.absent.auth.events, ${ctx.id}.absent.payment.events do not exist`);
    expect(noTopics.stderr).toContain('tidings topics create');
  });
});
