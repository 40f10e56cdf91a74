import { spawn } from 'node:child_process';
import path from 'node:path';
import { startAuditConsumer, type AuditConsumer } from '../../consumers/audit';
import { readAuditLog, verifyAuditChain } from '../../src/audit/audit-log';
import { SOURCE_HEADER } from '../../src/audit/audit-handler';
import { sampleEvent } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

describe('audit consumer group: an append-only, hash-chained log of every event', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let audit: AuditConsumer;
  const groupId = (): string => ctx.groupId('audit');

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    audit = await startAuditConsumer(ctx.platform, { groupId: groupId() });
  });

  afterAll(async () => {
    await audit?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  it('records every published event exactly once, with its coordinates, source and content hash, and the chain verifies', async () => {
    const events = [
      ...Array.from({ length: 8 }, (_, i) => ({ type: 'USER_REGISTERED' as const, event: sampleEvent('USER_REGISTERED', { user_id: `audit-user-${i}` }) })),
      ...Array.from({ length: 8 }, (_, i) => ({ type: 'PAYMENT_SUCCEEDED' as const, event: sampleEvent('PAYMENT_SUCCEEDED', { user_id: `audit-user-${i}` }) })),
    ];
    const results = await Promise.all(
      events.map(({ type, event }, i) => publisher.publish(type, event as never, i === 0 ? { headers: { [SOURCE_HEADER]: 'accounts-api' } } : {})),
    );
    // The same event published again (a producer retry) is not logged twice.
    await publisher.publish('PAYMENT_SUCCEEDED', events[8]!.event as never);
    await publisher.flush();

    await waitForGroupToCatchUp(ctx.platform.kafka, groupId(), [ctx.topics.auth, ctx.topics.payment]);
    const rows = await readAuditLog(ctx.db);
    expect(rows).toHaveLength(events.length);
    expect(new Set(rows.map((r) => r.eventId))).toEqual(new Set(events.map((e) => e.event.event_id)));

    const first = rows.find((r) => r.eventId === events[0]!.event.event_id)!;
    expect(first).toMatchObject({
      eventType: 'USER_REGISTERED',
      userId: 'audit-user-0',
      topic: ctx.topics.auth,
      partition: results[0]!.partition,
      offset: results[0]!.offset,
      source: 'accounts-api',
      payload: expect.objectContaining({ event_id: events[0]!.event.event_id, user_id: 'audit-user-0' }),
    });
    expect(first.occurredAt.getTime()).toBe(events[0]!.event.occurred_at);
    const payment = rows.find((r) => r.eventId === events[8]!.event.event_id)!;
    expect(payment.source).toBe(ctx.topics.payment);
    expect(payment.contentHash).toMatch(/^[0-9a-f]{64}$/);
    // Each row links to the one before it.
    rows.forEach((row, i) => expect(row.prevChainHash).toBe(i === 0 ? '0'.repeat(64) : rows[i - 1]!.chainHash));

    expect(await verifyAuditChain(ctx.db)).toEqual({ ok: true, rows: events.length });
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the log inside PostgreSQL', async () => {
    const [row] = await readAuditLog(ctx.db, { limit: 1 });
    await expect(ctx.db('audit_log').where({ id: row!.id }).update({ source: 'forged' })).rejects.toThrow(/append-only/);
    await expect(ctx.db('audit_log').where({ id: row!.id }).delete()).rejects.toThrow(/append-only/);
    await expect(ctx.db.raw('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(ctx.db)).toMatchObject({ ok: true });
  });

  it('detects a row edited behind the trigger’s back, and names that row', async () => {
    const rows = await readAuditLog(ctx.db);
    const victim = rows[Math.floor(rows.length / 2)]!;
    // Only a superuser can switch the guard off; tampering is still caught by the chain.
    await ctx.db.transaction(async (trx) => {
      await trx.raw('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change');
      await trx('audit_log')
        .where({ id: victim.id })
        .update({ payload: JSON.stringify({ ...(victim.payload as object), user_id: 'someone-else' }) });
      await trx.raw('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change');
    });

    expect(await verifyAuditChain(ctx.db)).toEqual({ ok: false, rows: rows.indexOf(victim) + 1, firstBrokenId: victim.id });
  });

  it('keeps appending new events to the chain after it has been read', async () => {
    const late = sampleEvent('PAYMENT_FAILED', { user_id: 'audit-late' });
    await publisher.publish('PAYMENT_FAILED', late);
    await waitFor('the late event in the audit log', async () => (await ctx.db('audit_log').where({ event_id: late.event_id })).length === 1, 60_000);
    const rows = await readAuditLog(ctx.db);
    expect(rows[rows.length - 1]).toMatchObject({ eventId: late.event_id, prevChainHash: rows[rows.length - 2]!.chainHash });
  });

  it('runs as `tidings run audit`; a second group replaying the topics appends nothing twice', async () => {
    const before = await ctx.db('audit_log').count('* as n').first();
    const replayGroup = ctx.groupId('audit-replay');
    const child = spawn(
      process.execPath,
      [path.resolve(__dirname, '../../bin/tidings.cjs'), 'run', 'audit', '--group-id', replayGroup, '--topic-prefix', `${ctx.id}.`, '--session-timeout', '6000'],
      {
        env: { ...process.env, DATABASE_URL: ctx.databaseUrl, KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl, LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitForGroupToCatchUp(ctx.platform.kafka, replayGroup, [ctx.topics.auth, ctx.topics.payment], 90_000);
      expect(await ctx.db('inbox').where({ consumer_group: replayGroup }).count('* as n').first()).toEqual(before);
      expect(await ctx.db('audit_log').count('* as n').first()).toEqual(before);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
