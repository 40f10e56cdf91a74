import { ApiKeys } from '../../src/api/auth/api-keys';
import { startApiServer, type ApiServer } from '../../src/api/server';
import { sampleEvent } from '../../src/events/samples';
import { listOperatorActions } from '../../src/ops/operator-actions';
import { jsonClient, TEST_USER_TOKEN_SECRET, type Json } from '../helpers/http';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const EVENTS = 40;

/**
 * Replay jobs over the admin API, against the real broker: started in the API process,
 * followed, cancelled after the chunk in progress, and finished; the copies on the target
 * topic are exactly those the job counted.
 */
describe('replay jobs over the admin API', () => {
  let ctx: TestContext;
  let api: ApiServer;
  let operate: ReturnType<typeof jsonClient>;
  let read: ReturnType<typeof jsonClient>;
  let target: string;

  beforeAll(async () => {
    ctx = await createTestContext({ partitions: 2 });
    target = `${ctx.id}.payment.copy`;
    const admin = ctx.platform.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: target, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    for (let i = 0; i < EVENTS; i += 1) await publisher.publish('PAYMENT_SUCCEEDED', sampleEvent('PAYMENT_SUCCEEDED', { user_id: `u-${i % 7}` }));
    await publisher.disconnect();

    const keys = new ApiKeys(ctx.db);
    const operateKey = (await keys.create({ name: 'oncall', scope: 'operate', actor: 'replay-api-test' })).key;
    const readKey = (await keys.create({ name: 'viewer', scope: 'read', actor: 'replay-api-test' })).key;
    api = await startApiServer({ db: ctx.db, platform: ctx.platform, userTokenSecret: TEST_USER_TOKEN_SECRET, port: 0 });
    operate = jsonClient(() => api.url, () => ({ authorization: `Bearer ${operateKey}` }));
    read = jsonClient(() => api.url, () => ({ authorization: `Bearer ${readKey}` }));
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    await ctx?.dispose();
  });

  it('refuses a bad request naming what is wrong, and a read key', async () => {
    expect(await operate('POST', '/admin/replays', { toTopic: target, from: '-1h', to: '-2h' })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/--from .* is after --to .*: swap them/) } });
    expect(await operate('POST', '/admin/replays', { toTopic: `${ctx.id}.nowhere`, from: '-1h' })).toMatchObject({ status: 400, body: { message: expect.stringContaining(`${ctx.id}.nowhere`) } });
    expect(await operate('POST', '/admin/replays', { toTopic: target, from: '-1h', resend: true })).toMatchObject({ status: 400, body: { field: 'resend', message: expect.stringContaining('tidings replay --resend') } });
    expect(await operate('POST', '/admin/replays', { group: 'billing', from: '-1h' })).toMatchObject({ status: 400, body: { field: 'group' } });
    expect((await read('POST', '/admin/replays', { toTopic: target, from: '-1h' })).status).toBe(403);
    expect(await countRecords(ctx.platform.kafka, target)).toBe(0);
  });

  it('starts a republish job, shows its progress, cancels it after the chunk in progress, and a second job copies everything', async () => {
    const started = await operate('POST', '/admin/replays', { toTopic: target, topics: [ctx.topics.payment], from: '-1h', rate: 4, reason: 'replay-api test' });
    expect(started.status).toBe(202);
    const job = started.body.job as Json;
    expect(job).toMatchObject({ mode: 'republish', status: 'running', total: EVENTS, runningHere: true, actor: 'apikey:oncall' });

    const progressed = await waitFor('the job to copy some records', async () => {
      const { body } = await read('GET', `/admin/replays/${String(job.id)}`);
      const current = body.job as { counts: { republished: number } };
      return current.counts.republished > 0 ? current : undefined;
    }, 30_000);
    expect(progressed.counts.republished).toBeLessThan(EVENTS);

    const cancelled = await operate('POST', `/admin/replays/${String(job.id)}/cancel`);
    expect(cancelled.status).toBe(200);
    const stopped = cancelled.body.job as { status: string; runningHere: boolean; counts: { republished: number; read: number } };
    expect(stopped).toMatchObject({ status: 'interrupted', runningHere: false });
    expect(stopped.counts.read).toBeLessThan(EVENTS);
    // Saved after each chunk: exactly what it counted is on the target topic.
    expect(await countRecords(ctx.platform.kafka, target)).toBe(stopped.counts.republished);
    expect(await operate('POST', `/admin/replays/${String(job.id)}/cancel`)).toMatchObject({ status: 409, body: { status: 'interrupted' } });

    const second = await operate('POST', '/admin/replays', { toTopic: target, topics: [ctx.topics.payment], from: '-1h' });
    expect(second.status).toBe(202);
    const finished = await waitFor('the second job to finish', async () => {
      const { body } = await read('GET', `/admin/replays/${String((second.body.job as Json).id)}`);
      const current = body.job as { status: string; counts: { republished: number } };
      return current.status === 'done' ? current : undefined;
    }, 60_000);
    expect(finished.counts.republished).toBe(EVENTS);
    expect(await countRecords(ctx.platform.kafka, target)).toBe(stopped.counts.republished + EVENTS);

    const listed = await read('GET', '/admin/replays');
    expect((listed.body.jobs as Json[]).map((j) => j.status)).toEqual(['done', 'interrupted']);
    const actions = await listOperatorActions(ctx.db, { action: 'replay.republish' });
    expect(actions.map((a) => a.actor)).toEqual(['apikey:oncall', 'apikey:oncall']);
  }, 120_000);
});
