import { Command } from 'commander';
import { ConfigResourceTypes, type Admin, type Producer } from 'kafkajs';
import { startAnalyticsConsumer, type AnalyticsConsumer } from '../../consumers/analytics';
import { registerGroupCommands } from '../../src/cli/commands/groups';
import { registerLagCommand } from '../../src/cli/commands/lag';
import { registerOffsetCommands } from '../../src/cli/commands/offsets';
import { registerOutboxCommands } from '../../src/cli/commands/outbox';
import { registerTopicCommands } from '../../src/cli/commands/topics';
import { dlqTopic, retryTopic, type RetryTopology } from '../../src/consumer/retry-topology';
import type { Trx } from '../../src/db/database';
import { sampleEvent } from '../../src/events/samples';
import type { LagReport } from '../../src/ops/inspect/consumer-lag';
import type { GroupDetails } from '../../src/ops/inspect/consumer-groups';
import type { OffsetResetPlan } from '../../src/ops/inspect/offset-reset';
import type { OutboxStatus } from '../../src/ops/inspect/outbox-status';
import type { TopicDescription } from '../../src/ops/inspect/topic-description';
import { OutboxRelay } from '../../src/outbox/outbox-relay';
import { eventHeaders } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings, type CliResult } from '../helpers/tidings-cli';
import { waitFor } from '../helpers/wait';

const HOUR = 3_600_000;
/** The payment topic of this file refuses records larger than this, so the outbox relay sets one aside. */
const MAX_MESSAGE_BYTES = 8_192;

describe('operator commands against the real broker and database: lag, groups, offsets reset, topics describe, outbox status', () => {
  let ctx: TestContext;
  let admin: Admin;
  let producer: Producer;
  let analytics: AnalyticsConsumer | undefined;
  let group: string;
  let topology: RetryTopology;
  let cliEnv: Record<string, string>;
  const started = Date.now();

  const tidings = (...args: string[]): Promise<CliResult> => runTidings(args, cliEnv);
  const json = <T>(result: CliResult): T => {
    if (result.code !== 0) throw new Error(`tidings exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };

  /** `n` valid events to one partition of a topic, with the given record timestamp. */
  async function produceEvents(topic: string, partition: number, n: number, timestamp: number): Promise<void> {
    const type = topic === ctx.topics.auth ? 'USER_REGISTERED' : 'PAYMENT_FAILED';
    const messages = await Promise.all(
      Array.from({ length: n }, async () => {
        const event = sampleEvent(type, { user_id: `user-${partition}` });
        return { partition, key: event.user_id, value: await ctx.platform.registry.encode(type, topic, event), headers: eventHeaders(type, event.event_id), timestamp: String(timestamp) };
      }),
    );
    await producer.send({ topic, messages });
  }

  async function committed(groupId: string, topic: string): Promise<number[]> {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (offsets?.partitions ?? []).sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
  }

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 3 });
    group = ctx.groupId('analytics');
    topology = { name: 'analytics', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] };
    cliEnv = { DATABASE_URL: ctx.databaseUrl, TIDINGS_TOPIC_PREFIX: `${ctx.id}.`, TIDINGS_ACTOR: 'oncall@test' };
    admin = ctx.platform.kafka.admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: ctx.topics.payment, configEntries: [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }] }],
    });
    producer = ctx.platform.kafka.producer();
    await producer.connect();
  });

  afterAll(async () => {
    await analytics?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    await ctx?.dispose();
  });

  it('while the group runs: `groups describe` shows its real member and assignment; `offsets reset --execute` is refused with exit code 3, naming the member, and a dry run warns', async () => {
    // Before consumption: payment p0 has two records 5 h old and two 3 h old, p1 two 3 h old,
    // p2 two that are not events (they go to the DLQ); auth p0 three records.
    await produceEvents(ctx.topics.payment, 0, 2, started - 5 * HOUR);
    await produceEvents(ctx.topics.payment, 0, 2, started - 3 * HOUR);
    await produceEvents(ctx.topics.payment, 1, 2, started - 3 * HOUR);
    await producer.send({ topic: ctx.topics.payment, messages: [0, 1].map((i) => ({ partition: 2, key: `garbage-${i}`, value: Buffer.from('not avro'), timestamp: String(started - 5 * HOUR) })) });
    await produceEvents(ctx.topics.auth, 0, 3, started - 3 * HOUR);

    analytics = await startAnalyticsConsumer(ctx.platform, { groupId: group });
    await waitFor('every record consumed and committed', async () => {
      const [payment, auth] = [await committed(group, ctx.topics.payment), await committed(group, ctx.topics.auth)];
      return JSON.stringify(payment) === '[4,2,2]' && auth[0] === 3;
    });

    const described = json<{ group: GroupDetails; retryGroup?: GroupDetails }>(await tidings('groups', 'describe', group, '--json'));
    expect(described.group).toMatchObject({ groupId: group, state: 'Stable' });
    expect(described.group.members).toHaveLength(1);
    const [member] = described.group.members;
    expect(member).toMatchObject({ clientId: `test-${ctx.id}`, host: expect.stringMatching(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/) });
    expect(member?.assignment).toEqual([
      { topic: ctx.topics.auth, partitions: [0, 1, 2] },
      { topic: ctx.topics.payment, partitions: [0, 1, 2] },
    ]);
    expect(described.retryGroup?.groupId).toBe(`${group}.retry`);
    expect(described.retryGroup?.members[0]?.assignment.map((a) => a.topic)).toEqual(
      [ctx.topics.auth, ctx.topics.payment].flatMap((s) => [1, 2, 3, 4].map((tier) => retryTopic(topology, s, tier))).sort(),
    );

    const text = await tidings('groups', 'describe', group);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(member?.memberId);
    expect(text.stdout).toContain(`${ctx.topics.payment}[0,1,2]`);

    const [dryRun, refused] = await Promise.all([
      tidings('offsets', 'reset', '--group', group, '--topic', ctx.topics.payment, '--to-earliest'),
      tidings('offsets', 'reset', '--group', group, '--topic', ctx.topics.payment, '--to-earliest', '--execute'),
    ]);
    // A dry run still shows the plan, and warns.
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toMatch(/^DRY RUN \(nothing changed; add --execute to apply\)/);
    expect(dryRun.stdout).toContain(`NOTE: the group is running (test-${ctx.id} on`);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`group "${group}" is running`);
    expect(refused.stderr).toContain(`test-${ctx.id}`);
    expect(refused.stderr).toContain(member?.memberId);
    expect(refused.stderr).toMatch(/Stop those consumers/);
    expect(await committed(group, ctx.topics.payment)).toEqual([4, 2, 2]);
    expect(await ctx.db('operator_actions').count('* as n').first()).toEqual({ n: '0' });
  });

  it('`lag` gives the exact lag per topic and partition after the group stopped, with its retry tiers and DLQ depth', async () => {
    await analytics?.stop();
    analytics = undefined;
    await waitFor('the group to be empty', async () => (await admin.describeGroups([group])).groups[0]?.state === 'Empty');
    // After it stopped: three more on payment p0 and one on p1 (1 h old), two on auth p1 (never
    // committed: counted from its start), one waiting in retry tier 1 of payment p0.
    await produceEvents(ctx.topics.payment, 0, 3, started - HOUR);
    await produceEvents(ctx.topics.payment, 1, 1, started - HOUR);
    await produceEvents(ctx.topics.auth, 1, 2, started - HOUR);
    await producer.send({ topic: retryTopic(topology, ctx.topics.payment, 1), messages: [{ partition: 0, key: 'user-0', value: Buffer.from('waiting') }] });

    const report = json<LagReport>(await tidings('lag', '--group', group, '--json'));
    expect(report.groups).toHaveLength(1);
    const [lag] = report.groups;
    expect(lag).toMatchObject({ groupId: group, state: 'Empty', members: 0, topologyName: 'analytics' });
    const partitions = (topic: string) => lag?.topics.find((t) => t.topic === topic)?.partitions.map(({ partition, committed: c, end, lag: l }) => ({ partition, committed: c, end, lag: l }));
    expect(partitions(ctx.topics.payment)).toEqual([
      { partition: 0, committed: 4, end: 7, lag: 3 },
      { partition: 1, committed: 2, end: 3, lag: 1 },
      { partition: 2, committed: 2, end: 2, lag: 0 },
    ]);
    expect(partitions(ctx.topics.auth)).toEqual([
      { partition: 0, committed: 3, end: 3, lag: 0 },
      { partition: 1, committed: null, end: 2, lag: 2 },
      { partition: 2, committed: null, end: 0, lag: 0 },
    ]);
    const tiers = lag?.topics.filter((t) => t.role === 'retry') ?? [];
    expect(tiers).toHaveLength(8);
    expect(tiers.every((t) => t.heldBy === `${group}.retry`)).toBe(true);
    expect(tiers.map((t) => [t.topic, t.lag]).filter(([, l]) => l !== 0)).toEqual([[retryTopic(topology, ctx.topics.payment, 1), 1]]);
    expect(lag?.deadLetters.map((d) => [d.topic, d.depth])).toEqual([
      [dlqTopic(topology, ctx.topics.auth), 0],
      [dlqTopic(topology, ctx.topics.payment), 2],
    ]);
    expect(lag?.totals).toEqual({ lag: 6, retryLag: 1, dlqDepth: 2 });

    const text = await tidings('lag', '--group', group);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${ctx.topics.payment.replace(/\./g, '\\.')} +source +0 +4 +0 +7 +3`));
    expect(text.stdout).toContain(`DLQ ${dlqTopic(topology, ctx.topics.payment)}: 2 records`);
    expect(text.stdout).toContain('total: lag 6, in retry tiers 1, in DLQs 2');

    // Every group: this one is there with its retry group folded in, and `groups list` marks it as Tidings'.
    const all = json<LagReport>(await tidings('lag', '--json'));
    expect(all.groups.find((g) => g.groupId === group)?.totals).toEqual({ lag: 6, retryLag: 1, dlqDepth: 2 });
    expect(all.groups.some((g) => g.groupId === `${group}.retry`)).toBe(false);
    const listed = json<Array<{ groupId: string; tidings: boolean; state: string; members: number }>>(await tidings('groups', 'list', '--json'));
    expect(listed.find((g) => g.groupId === group)).toMatchObject({ tidings: true, state: 'Empty', members: 0 });
  });

  it('`offsets reset` is a dry run by default; --execute moves the committed offsets to the time or offset asked and records who did it and why', async () => {
    const dry = json<{ plan: OffsetResetPlan; executed: boolean }>(await tidings('offsets', 'reset', '--group', group, '--topic', ctx.topics.payment, '--to-earliest', '--json'));
    expect(dry.executed).toBe(false);
    expect(dry.plan.partitions.map((p) => [p.partition, p.current, p.next])).toEqual([
      [0, 4, 0],
      [1, 2, 0],
      [2, 2, 0],
    ]);
    expect(await committed(group, ctx.topics.payment)).toEqual([4, 2, 2]);
    expect(await ctx.db('operator_actions').count('* as n').first()).toEqual({ n: '0' });

    // 4 h ago lies between the records 5 h old and those 3 h old: p0 → 2, p1 → 0; p2 has nothing that recent → its end.
    const byTime = await tidings('offsets', 'reset', '--group', group, '--topic', ctx.topics.payment, '--to-datetime', '-4h', '--execute', '--reason', 'count again from 4 h ago');
    expect(byTime.code).toBe(0);
    expect(byTime.stdout).toMatch(/^reset group/);
    expect(await committed(group, ctx.topics.payment)).toEqual([2, 0, 2]);

    const byOffset = await tidings('offsets', 'reset', '--group', group, '--topic', ctx.topics.payment, '--to-offset', '5', '--partitions', '0', '--execute');
    expect(byOffset.code).toBe(0);
    expect(await committed(group, ctx.topics.payment)).toEqual([5, 0, 2]);

    const actions = await ctx.db('operator_actions').where({ action: 'offsets.reset' }).orderBy('id').select('actor', 'target', 'reason', 'details');
    expect(actions).toEqual([
      {
        actor: 'oncall@test',
        target: group,
        reason: 'count again from 4 h ago',
        details: expect.objectContaining({
          topic: ctx.topics.payment,
          partitions: [
            { partition: 0, from: 4, to: 2 },
            { partition: 1, from: 2, to: 0 },
            { partition: 2, from: 2, to: 2 },
          ],
        }),
      },
      { actor: 'oncall@test', target: group, reason: null, details: expect.objectContaining({ partitions: [{ partition: 0, from: 2, to: 5 }] }) },
    ]);
  });

  it('`topics describe` shows the partitions, replicas, offsets and the real configs of each topic', async () => {
    const [payment, dlq] = json<TopicDescription[]>(await tidings('topics', 'describe', ctx.topics.payment, dlqTopic(topology, ctx.topics.payment), '--json'));
    const offsets = await admin.fetchTopicOffsets(ctx.topics.payment);
    expect(payment).toMatchObject({ topic: ctx.topics.payment, replicationFactor: 1, records: 12, underReplicated: [] });
    expect(payment?.partitions.map((p) => ({ partition: p.partition, start: p.start, end: p.end }))).toEqual(
      offsets.sort((a, b) => a.partition - b.partition).map((o) => ({ partition: o.partition, start: Number(o.low), end: Number(o.high) })),
    );
    for (const p of payment?.partitions ?? []) expect(p).toMatchObject({ leader: expect.any(Number), replicas: [p.leader], isr: [p.leader] });
    expect(payment?.configs['max.message.bytes']).toEqual({ value: String(MAX_MESSAGE_BYTES), source: 'topic' });
    expect(payment?.configs['cleanup.policy']).toEqual({ value: 'delete', source: expect.stringMatching(/default|broker/) });
    expect(dlq?.configs['retention.ms']).toEqual({ value: '-1', source: 'topic' });
    expect(dlq?.records).toBe(2);

    // No name: the contract topics of the prefix and everything derived from them.
    const family = json<TopicDescription[]>(await tidings('topics', 'describe', '--json')).map((t) => t.topic);
    expect(family).toEqual(expect.arrayContaining([ctx.topics.auth, ctx.topics.payment, retryTopic(topology, ctx.topics.auth, 4), dlqTopic(topology, ctx.topics.payment)]));
    expect(family.every((t) => t.startsWith(`${ctx.id}.`))).toBe(true);
  });

  it('`outbox status` counts the real backlog, the rows the relay set aside by reason, and the rows published in the last minute', async () => {
    const outbox = ctx.platform.createOutbox();
    const enqueue = (headers?: Record<string, string>) => ctx.db.transaction((trx: Trx) => outbox.enqueue(trx, 'PAYMENT_FAILED', sampleEvent('PAYMENT_FAILED'), { headers }));
    // Too large for the payment topic: the relay sets it aside; the three others are published.
    await enqueue({ 'x-attachment': 'x'.repeat(20_000) });
    for (let i = 0; i < 3; i++) await enqueue();
    const relay = new OutboxRelay({ kafka: ctx.platform.kafka, db: ctx.db, databaseUrl: ctx.databaseUrl, registry: ctx.platform.registry, pollIntervalMs: 200 });
    await relay.start();
    try {
      await waitFor('three rows published and one set aside', () => relay.stats.published === 3 && relay.stats.setAside === 1);
    } finally {
      await relay.stop();
    }
    // Written while no relay runs: the backlog.
    await enqueue();
    await enqueue();

    const status = json<OutboxStatus>(await tidings('outbox', 'status', '--json'));
    expect(status).toMatchObject({ backlog: 2, setAsideTotal: 1, publishedLastMinute: 3 });
    expect(status.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(status.oldestAgeSeconds).toBeLessThan(60);
    expect(status.setAside).toEqual([
      expect.objectContaining({ code: 'MESSAGE_TOO_LARGE', rows: 1, sampleReason: expect.stringMatching(/larger than the max message size/) }),
    ]);

    const text = await tidings('outbox', 'status');
    expect(text.stdout).toContain('backlog: 2 rows to publish');
    expect(text.stdout).toMatch(/MESSAGE_TOO_LARGE +1 /);
  });

  it('names the fix for an unknown topic or group, a retry tier asked of its main group, an unreachable broker or database, and a reset without a target; every command has --help with examples', async () => {
    const [lagGroup, describeGroup, topic, resetGroup, tier, broker, database, noTarget] = await Promise.all([
      tidings('lag', '--group', `${ctx.id}.nope`),
      tidings('groups', 'describe', `${ctx.id}.nope`),
      tidings('topics', 'describe', `${ctx.id}.nope`),
      tidings('offsets', 'reset', '--group', `${ctx.id}.nope`, '--topic', ctx.topics.payment, '--to-earliest'),
      tidings('offsets', 'reset', '--group', group, '--topic', retryTopic(topology, ctx.topics.payment, 1), '--to-latest'),
      runTidings(['lag'], { ...cliEnv, KAFKA_BROKERS: '127.0.0.1:1' }),
      runTidings(['outbox', 'status'], { ...cliEnv, DATABASE_URL: 'postgres://tidings:tidings@127.0.0.1:1/nowhere' }),
      tidings('offsets', 'reset', '--group', group, '--topic', ctx.topics.payment),
    ]);
    for (const r of [lagGroup, describeGroup, topic, resetGroup, tier, broker, database, noTarget]) expect(r.code).toBe(1);
    expect(lagGroup.stderr).toContain(`unknown consumer group "${ctx.id}.nope": \`tidings groups list\``);
    expect(describeGroup.stderr).toContain(`unknown consumer group "${ctx.id}.nope"`);
    expect(topic.stderr).toContain(`unknown topic "${ctx.id}.nope": check the name and TIDINGS_TOPIC_PREFIX`);
    expect(resetGroup.stderr).toMatch(/unknown consumer group .* add --new-group/);
    expect(tier.stderr).toContain(`is a retry tier: its offsets are held by the group "${group}.retry"`);
    expect(broker.stderr).toContain('cannot reach the Kafka broker at 127.0.0.1:1');
    expect(broker.stderr).toContain('check KAFKA_BROKERS');
    expect(database.stderr).toContain('cannot reach PostgreSQL at 127.0.0.1:1 (from DATABASE_URL)');
    expect(noTarget.stderr).toContain('say where to move the offsets: pass one of --to-datetime');

    // Help is printed by commander itself: read in this process.
    const program = new Command('tidings');
    for (const register of [registerLagCommand, registerGroupCommands, registerOffsetCommands, registerTopicCommands, registerOutboxCommands]) register(program);
    for (const path of [['lag'], ['groups', 'list'], ['groups', 'describe'], ['offsets', 'reset'], ['topics', 'describe'], ['outbox', 'status']]) {
      const command = path.reduce((parent, name) => parent.commands.find((c) => c.name() === name) ?? parent, program);
      expect(command.name()).toBe(path[path.length - 1]);
      let help = '';
      command.configureOutput({ writeOut: (text) => (help += text) });
      command.outputHelp();
      expect(help).toContain('Examples:');
      expect(help).toContain(`$ tidings ${path.join(' ')}`);
      expect(help).toContain('Exit codes: 0 done, 1 error');
    }
  });
});
