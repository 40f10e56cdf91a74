import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Db } from '../../src/db/database';
import { ConfigError } from '../../src/errors';
import { ensureTopics } from '../../src/kafka/topics';
import { checkInboxRetention } from '../../src/retention/inbox-retention';
import { PRUNE_LOCK, Pruner } from '../../src/retention/pruner';
import { retentionSettings } from '../../src/retention/retention-options';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ago = (ms: number): Date => new Date(Date.now() - ms);

/** What a test inserted, by what should become of it. */
interface Seeded {
  inbox: { old: string[]; fresh: string[]; otherGroupOld: string[] };
  ledger: { oldFinished: number[]; oldUnfinished: number[]; fresh: number[] };
  attempts: { ofOldFinished: number[]; oldOfFreshFinished: number[]; oldOfUnfinished: number[] };
  counters: { open: string };
  outbox: { oldPublished: number[]; oldUnpublished: number[]; freshPublished: number[] };
}

async function ids(db: Db, table: string, rows: object[], column = 'id'): Promise<Array<string | number>> {
  if (rows.length === 0) return [];
  return (await db(table).insert(rows).returning(column)).map((r: Record<string, string | number>) => r[column]!);
}

/** Rows on both sides of every retention (defaults: 30 d inbox, ledger and attempts, 1 d counters and outbox). */
async function seed(db: Db, group: string, oldInboxRows = 3): Promise<Seeded> {
  const inboxRow = (consumerGroup: string, processedAt: Date) => ({
    consumer_group: consumerGroup,
    event_id: randomUUID(),
    event_type: 'USER_REGISTERED',
    topic: 'auth.events',
    partition: 0,
    offset: 1,
    processed_at: processedAt,
  });
  const inbox = {
    old: (await ids(db, 'inbox', Array.from({ length: oldInboxRows }, () => inboxRow(group, ago(40 * DAY))), 'event_id')) as string[],
    fresh: (await ids(db, 'inbox', [inboxRow(group, ago(DAY))], 'event_id')) as string[],
    otherGroupOld: (await ids(db, 'inbox', [inboxRow(`${group}.other`, ago(40 * DAY))], 'event_id')) as string[],
  };
  const ledgerRow = (status: string, updatedAt: Date) => ({
    event_id: randomUUID(),
    event_type: 'USER_REGISTERED',
    channel: 'email',
    recipient: `${randomUUID()}@example.com`,
    status,
    created_at: updatedAt,
    updated_at: updatedAt,
  });
  const ledger = {
    oldFinished: (await ids(db, 'delivery_ledger', ['sent', 'failed', 'suppressed'].map((s) => ledgerRow(s, ago(40 * DAY))))) as number[],
    // Still to be delivered (or being delivered, or held by quiet hours) however old they are.
    oldUnfinished: (await ids(db, 'delivery_ledger', ['pending', 'sending', 'deferred'].map((s) => ledgerRow(s, ago(40 * DAY))))) as number[],
    fresh: (await ids(db, 'delivery_ledger', [ledgerRow('sent', ago(DAY))])) as number[],
  };
  const attempt = (ledgerId: number, at: Date) => ({ ledger_id: ledgerId, provider: 'smtp', status: 'failed', latency_ms: 5, attempted_at: at });
  const attempts = {
    ofOldFinished: (await ids(db, 'delivery_attempts', ledger.oldFinished.map((id) => attempt(id, ago(40 * DAY))))) as number[],
    oldOfFreshFinished: (await ids(db, 'delivery_attempts', [attempt(ledger.fresh[0]!, ago(40 * DAY))])) as number[],
    oldOfUnfinished: (await ids(db, 'delivery_attempts', ledger.oldUnfinished.map((id) => attempt(id, ago(40 * DAY))))) as number[],
  };
  const hourStart = new Date(Math.floor(Date.now() / HOUR) * HOUR);
  const user = randomUUID();
  await db('rate_limit_counters').insert([
    { user_id: `${user}-closed`, channel: 'sms', window_start: ago(2 * DAY), count: 5 },
    // The window that is open now: pruning it would reset the user's count.
    { user_id: `${user}-open`, channel: 'sms', window_start: hourStart, count: 5 },
  ]);
  const outboxRow = (publishedAt: Date | null, setAsideAt: Date | null = null) => ({
    event_id: randomUUID(),
    event_type: 'USER_REGISTERED',
    topic: 'auth.events',
    message_key: 'u-1',
    value: Buffer.from([0]),
    created_at: ago(3 * DAY),
    published_at: publishedAt,
    set_aside_at: setAsideAt,
  });
  const outbox = {
    oldPublished: (await ids(db, 'outbox', [outboxRow(ago(2 * DAY)), outboxRow(ago(2 * DAY))])) as number[],
    // Not yet published, and one set aside for an operator (the broker refused it for good).
    oldUnpublished: (await ids(db, 'outbox', [outboxRow(null), outboxRow(null, ago(2 * DAY))])) as number[],
    freshPublished: (await ids(db, 'outbox', [outboxRow(ago(HOUR))])) as number[],
  };
  return { inbox, ledger, attempts, counters: { open: `${user}-open` }, outbox };
}

async function present(db: Db, table: string, column: string, values: Array<string | number>): Promise<number> {
  const row = await db(table).whereIn(column, values).count<Array<{ n: string }>>('* as n').first();
  return Number(row?.n ?? 0);
}

async function tableCounts(db: Db): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['inbox', 'delivery_ledger', 'delivery_attempts', 'rate_limit_counters', 'outbox']) {
    counts[table] = Number((await db(table).count<Array<{ n: string }>>('* as n').first())?.n ?? 0);
  }
  return counts;
}

/** The CLI as an operator runs it, against this test's database and topics. */
function tidings(ctx: TestContext, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), ...args], {
    env: {
      ...process.env,
      DATABASE_URL: ctx.databaseUrl,
      KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
      SMTP_URL: ctx.mail.url,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, exited };
}

describe('retention of the operational tables', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 1 });
  });

  afterAll(async () => {
    await ctx.dispose();
  });

  beforeEach(async () => {
    await ctx.db.raw('TRUNCATE inbox, delivery_ledger, delivery_attempts, rate_limit_counters, outbox');
  });

  it('deletes the rows past their retention and keeps newer ones, unfinished deliveries, open rate-limit windows, unpublished outbox rows and other groups\' inbox', async () => {
    const s = await seed(ctx.db, 'g1');
    const pruner = new Pruner({ db: ctx.db, inbox: ['g1'] });
    const { counts, busy } = await pruner.prune();

    expect(busy).toEqual([]);
    // Attempts are pruned first (the three of the old finished rows and the old one of the fresh row).
    expect(counts).toEqual({ inbox: 3, delivery_ledger: 3, delivery_attempts: 4, rate_limit_counters: 1, outbox: 2 });
    expect(await present(ctx.db, 'inbox', 'event_id', s.inbox.old)).toBe(0);
    expect(await present(ctx.db, 'inbox', 'event_id', [...s.inbox.fresh, ...s.inbox.otherGroupOld])).toBe(2);
    expect(await present(ctx.db, 'delivery_ledger', 'id', s.ledger.oldFinished)).toBe(0);
    expect(await present(ctx.db, 'delivery_ledger', 'id', [...s.ledger.oldUnfinished, ...s.ledger.fresh])).toBe(4);
    // An old finished row's attempts went with it; an unfinished row keeps its history.
    expect(await present(ctx.db, 'delivery_attempts', 'id', [...s.attempts.ofOldFinished, ...s.attempts.oldOfFreshFinished])).toBe(0);
    expect(await present(ctx.db, 'delivery_attempts', 'id', s.attempts.oldOfUnfinished)).toBe(3);
    expect((await ctx.db('rate_limit_counters').select('user_id')).map((r: { user_id: string }) => r.user_id)).toEqual([s.counters.open]);
    expect(await present(ctx.db, 'outbox', 'id', s.outbox.oldPublished)).toBe(0);
    expect(await present(ctx.db, 'outbox', 'id', [...s.outbox.oldUnpublished, ...s.outbox.freshPublished])).toBe(3);
  });

  it('deletes in bounded batches: no DELETE statement removes more than the batch size', async () => {
    await seed(ctx.db, 'g1', 50);
    // Every DELETE statement on the inbox logs how many rows it removed.
    await ctx.db.raw('CREATE TABLE IF NOT EXISTS prune_batches (n int NOT NULL)');
    await ctx.db.raw(`CREATE OR REPLACE FUNCTION log_prune_batch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO prune_batches SELECT count(*) FROM gone; RETURN NULL; END $$`);
    await ctx.db.raw('CREATE TRIGGER inbox_batches AFTER DELETE ON inbox REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION log_prune_batch()');
    try {
      const { counts } = await new Pruner({ db: ctx.db, inbox: ['g1'], batchSize: 7 }).prune();
      expect(counts.inbox).toBe(50);
      const batches = (await ctx.db('prune_batches').select('n')).map((r: { n: number }) => r.n);
      expect(Math.max(...batches)).toBeLessThanOrEqual(7);
      expect(batches.reduce((a, b) => a + b, 0)).toBe(50);
      expect(batches.length).toBe(8);
    } finally {
      await ctx.db.raw('DROP TRIGGER inbox_batches ON inbox');
    }
  });

  it('prunes a scope on one instance at a time: while another holds its lock, it is skipped', async () => {
    const s = await seed(ctx.db, 'g1');
    const other = await ctx.db.client.acquireConnection();
    try {
      await ctx.db.raw('SELECT pg_advisory_lock(?, hashtext(?))', [PRUNE_LOCK, 'shared']).connection(other);
      const { counts, busy } = await new Pruner({ db: ctx.db, inbox: ['g1'] }).prune();
      expect(busy).toEqual(['shared']);
      expect(counts).toMatchObject({ inbox: 3, delivery_ledger: 0, outbox: 0 });
      expect(await present(ctx.db, 'delivery_ledger', 'id', s.ledger.oldFinished)).toBe(3);
    } finally {
      await ctx.db.raw('SELECT pg_advisory_unlock_all()').connection(other);
      await ctx.db.client.releaseConnection(other);
    }
  });

  it('refuses options that would prune live state or overflow a timer, naming the option', () => {
    expect(() => retentionSettings({ rateLimitCountersMs: 30 * 60_000 })).toThrow(/rateLimitCountersMs \(TIDINGS_RETENTION_RATE_LIMITS\) must be at least the longest rate-limit window \(1h\)/);
    expect(() => retentionSettings({ intervalMs: 30 * DAY })).toThrow(/intervalMs \(TIDINGS_PRUNE_INTERVAL\)/);
  });

  it('`tidings prune --dry-run --json` reports the counts per table and deletes nothing; without --dry-run it deletes them', async () => {
    await seed(ctx.db, ctx.groupId('notification'));
    const before = await tableCounts(ctx.db);

    const dry = await tidings(ctx, ['prune', '--dry-run', '--json', '--topic-prefix', `${ctx.id}.`]).exited;
    expect(dry).toMatchObject({ code: 0 });
    const report = JSON.parse(dry.stdout.trim().split('\n').pop() ?? '{}') as { dryRun: boolean; counts: Record<string, number> };
    // `tidings prune` covers every group's inbox: both groups' old rows.
    const expected = { inbox: 4, delivery_ledger: 3, delivery_attempts: 4, rate_limit_counters: 1, outbox: 2 };
    expect(report).toMatchObject({ dryRun: true, counts: expected });
    expect(await tableCounts(ctx.db)).toEqual(before);

    const real = await tidings(ctx, ['prune', '--json', '--topic-prefix', `${ctx.id}.`]).exited;
    expect(real).toMatchObject({ code: 0 });
    expect(JSON.parse(real.stdout.trim().split('\n').pop() ?? '{}')).toMatchObject({ dryRun: false, counts: expected });
    const after = await tableCounts(ctx.db);
    expect(after.inbox).toBe(before.inbox! - 4);
    expect(after.outbox).toBe(before.outbox! - 2);
  });

  describe('start-up check against the source topics\' retention', () => {
    // Topics that keep records 2 h in 1 h segments: a record can be served for up to 3 h.
    async function shortTopics(prefix: string, retentionMs: string): Promise<void> {
      const admin = ctx.platform.kafka.admin();
      await admin.connect();
      try {
        const config = { 'retention.ms': retentionMs, 'segment.ms': String(HOUR) };
        await ensureTopics(admin, [
          { topic: `${prefix}auth.events`, partitions: 1, config },
          { topic: `${prefix}payment.events`, partitions: 1, config },
        ]);
      } finally {
        await admin.disconnect();
      }
    }

    it('`tidings run` refuses to start when the inbox retention is shorter than topic retention + segment + retry tiers, naming the setting, the values and the fix', async () => {
      const prefix = `${ctx.id}.short.`;
      await shortTopics(prefix, String(2 * HOUR));
      const run = await tidings(ctx, ['run', 'audit', '--topic-prefix', prefix, '--group-id', ctx.groupId('audit-short')], { TIDINGS_RETENTION_INBOX: '3h' }).exited;
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('TIDINGS_RETENTION_INBOX is 3h');
      expect(run.stderr).toContain(`${prefix}auth.events can serve a record for up to 3h (retention.ms 7200000 + segment.ms 3600000)`);
      // The default tiers: 10 s + 1 min + 10 min + 1 h.
      expect(run.stderr).toContain('the retry tiers add 1h11m10s');
      expect(run.stderr).toContain('Set TIDINGS_RETENTION_INBOX to at least 4h11m10s');
      // Nothing was started: the group never joined.
      const admin = ctx.platform.kafka.admin();
      await admin.connect();
      const groups = (await admin.listGroups().finally(() => admin.disconnect())).groups.map((g) => g.groupId);
      expect(groups).not.toContain(ctx.groupId('audit-short'));

      // The same check in-process, with the scheduler's single topic and its own tiers.
      await expect(checkInboxRetention(ctx.platform.kafka, [`${prefix}payment.events`], [1_000], retentionSettings({ inboxMs: 3 * HOUR }))).rejects.toThrow(ConfigError);
      await expect(checkInboxRetention(ctx.platform.kafka, [`${prefix}payment.events`], [1_000], retentionSettings({ inboxMs: 3 * HOUR + 1_000 }))).resolves.toBe(true);
    });

    it('a running worker prunes periodically: its own group\'s inbox and the shared tables, nothing of other groups', async () => {
      const prefix = `${ctx.id}.ok.`;
      await shortTopics(prefix, String(2 * HOUR));
      const group = ctx.groupId('audit-ok');
      const s = await seed(ctx.db, group);
      const worker = tidings(ctx, ['run', 'audit', '--topic-prefix', prefix, '--group-id', group], { TIDINGS_RETENTION_INBOX: '5h', TIDINGS_PRUNE_INTERVAL: '1s' });
      try {
        await waitFor('the worker to prune', async () => (await present(ctx.db, 'inbox', 'event_id', s.inbox.old)) === 0 && (await present(ctx.db, 'outbox', 'id', s.outbox.oldPublished)) === 0, 60_000, 250);
        expect(await present(ctx.db, 'delivery_ledger', 'id', s.ledger.oldFinished)).toBe(0);
        expect(await present(ctx.db, 'inbox', 'event_id', s.inbox.otherGroupOld)).toBe(1);
        expect(await present(ctx.db, 'delivery_ledger', 'id', s.ledger.oldUnfinished)).toBe(3);
        // Later rows are pruned by a later round.
        const late = await seed(ctx.db, group);
        await waitFor('the next round', async () => (await present(ctx.db, 'inbox', 'event_id', late.inbox.old)) === 0, 30_000, 250);
      } finally {
        worker.child.kill('SIGTERM');
      }
      const ended = await worker.exited;
      expect(ended.code).toBe(0);
      // The worker created the group's retry tiers, which keep records for a week or more: from
      // now on they are checked too (a tier record can be read again after an offset reset).
      await expect(checkInboxRetention(ctx.platform.kafka, [`${prefix}auth.events`], [10_000], retentionSettings({ inboxMs: 5 * HOUR }))).rejects.toThrow(
        new RegExp(`${prefix.replace(/\./g, '\\.')}auth\\.events\\.audit\\.retry\\.\\d can serve a record`),
      );
    });

    it('when a source topic keeps its records forever, the worker starts and keeps every inbox row (unless forced), and still prunes the shared tables', async () => {
      const prefix = `${ctx.id}.forever.`;
      await shortTopics(prefix, '-1');
      const group = ctx.groupId('audit-forever');
      const s = await seed(ctx.db, group);
      const worker = tidings(ctx, ['run', 'audit', '--topic-prefix', prefix, '--group-id', group], { TIDINGS_RETENTION_INBOX: '1h', TIDINGS_PRUNE_INTERVAL: '1s' });
      try {
        await waitFor('the shared tables pruned', async () => (await present(ctx.db, 'delivery_ledger', 'id', s.ledger.oldFinished)) === 0, 60_000, 250);
        expect(await present(ctx.db, 'inbox', 'event_id', s.inbox.old)).toBe(3);
      } finally {
        worker.child.kill('SIGTERM');
      }
      expect((await worker.exited).code).toBe(0);
      await expect(checkInboxRetention(ctx.platform.kafka, [`${prefix}auth.events`], [], retentionSettings({ inboxMs: HOUR, forceInbox: true }))).resolves.toBe(true);
    });
  });
});
