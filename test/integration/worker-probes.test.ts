import { buildNotificationConsumer } from '../../consumers/notification';
import { readinessCheck } from '../../src/api/readiness';
import { sampleEvent } from '../../src/events/samples';
import { createLogger } from '../../src/observability/logger';
import { startMetricsServer, type MetricsServer } from '../../src/observability/metrics-server';
import { startConsumerProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { freePort } from '../helpers/free-port';
import { TcpProxy } from '../helpers/tcp-proxy';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

interface ProbeAnswer {
  status: number;
  body: { status?: string; ready?: boolean; checks?: Record<string, { ok: boolean; reason?: string }> };
}

async function probe(url: string): Promise<ProbeAnswer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as ProbeAnswer['body'] };
}

/** Polls `url` until its answer satisfies `condition`; returns that answer. */
async function probeUntil(url: string, what: string, condition: (answer: ProbeAnswer) => boolean, timeoutMs = 60_000): Promise<ProbeAnswer> {
  let last: ProbeAnswer | undefined;
  await waitFor(what, async () => condition((last = await probe(url))), timeoutMs, 100);
  return last as ProbeAnswer;
}

describe('health and readiness probes of a worker (tidings run with TIDINGS_METRICS_PORT)', () => {
  let ctx: TestContext;
  let proxy: TcpProxy;

  beforeAll(async () => {
    ctx = await createTestContext();
    const db = new URL(ctx.databaseUrl);
    proxy = await TcpProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
  });

  afterAll(async () => {
    await proxy?.close();
    await ctx?.dispose();
  });

  it('is not ready until its group has joined; while its PostgreSQL is down it is not ready, naming postgres, and alive; then ready again', async () => {
    const groupId = ctx.groupId('notification');
    // A member of the worker's group stuck in its batch: the group cannot finish a rebalance, so
    // the worker cannot join, until this member lets go.
    const blocker = ctx.platform.kafka.consumer({ groupId, sessionTimeout: 60_000, rebalanceTimeout: 60_000 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let blocking = false;
    await blocker.connect();
    await blocker.subscribe({ topics: [ctx.topics.auth], fromBeginning: true });
    await blocker.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async () => {
        blocking = true;
        await released;
      },
    });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    await publisher.publish('PASSWORD_RESET_REQUESTED', sampleEvent('PASSWORD_RESET_REQUESTED'));
    await waitFor('the blocking member to hold its batch', () => blocking, 30_000);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The port from the environment this time (metrics.test.ts passes --metrics-port).
    let worker: ConsumerProcess | undefined = startConsumerProcess(ctx, { env: { DATABASE_URL: proxy.via(ctx.databaseUrl), TIDINGS_METRICS_PORT: String(port) } });
    try {
      // Every dependency answers, and still not ready: the group has not joined.
      const waiting = await probeUntil(`${base}/readyz`, 'the dependencies to answer', (a) => ['postgres', 'kafka', 'registry'].every((name) => a.body.checks?.[name]?.ok === true));
      expect(waiting.status).toBe(503);
      expect(waiting.body).toMatchObject({ status: 'not_ready', ready: false, checks: { group: { ok: false, reason: 'not joined yet' } } });
      expect((await probe(`${base}/healthz`)).status).toBe(200);

      release();
      await blocker.disconnect();
      const ready = await probeUntil(`${base}/readyz`, 'the worker to be ready', (a) => a.status === 200);
      expect(ready.body).toMatchObject({ status: 'ready', ready: true, checks: { postgres: { ok: true }, kafka: { ok: true }, registry: { ok: true }, group: { ok: true } } });

      proxy.cut();
      const down = await probeUntil(`${base}/readyz`, 'readiness to see PostgreSQL down', (a) => a.status === 503);
      expect(down.body).toMatchObject({ status: 'not_ready', ready: false, checks: { postgres: { ok: false }, kafka: { ok: true }, registry: { ok: true }, group: { ok: true } } });
      expect(down.body.checks?.postgres?.reason).toMatch(/unreachable|no answer/);
      // Alive all along: a restart would not bring the database back.
      expect(await probe(`${base}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });

      proxy.restore();
      await probeUntil(`${base}/readyz`, 'readiness to recover', (a) => a.status === 200);
      expect((await probe(`${base}/healthz`)).status).toBe(200);

      worker.child.kill('SIGTERM');
      const exit = await worker.exited;
      worker = undefined;
      expect(exit.code).toBe(0);
    } finally {
      release();
      proxy.restore();
      await blocker.disconnect().catch(() => undefined);
      await publisher.disconnect();
      worker?.child.kill('SIGKILL');
      await worker?.exited;
    }
  }, 120_000);

  it('a group is not ready before it starts nor after it stops, and ready in between', async () => {
    const consumer = buildNotificationConsumer(ctx.platform, { groupId: ctx.groupId('stopping') });
    const logger = createLogger('probes-test');
    let server: MetricsServer | undefined;
    let stopped = false;
    try {
      const readiness = readinessCheck({ db: ctx.db, kafkaBrokers: ctx.platform.endpoints.kafkaBrokers, schemaRegistryUrl: ctx.platform.endpoints.schemaRegistryUrl, joined: () => consumer.runtime.joined, logger });
      server = await startMetricsServer({ port: 0, host: '127.0.0.1', readiness, logger });
      const readyz = `${server.url}/readyz`;
      expect((await probe(readyz)).body.checks?.group).toEqual(expect.objectContaining({ ok: false, reason: 'not joined yet' }));

      await consumer.runtime.start();
      await consumer.runtime.waitForAssignment(60_000);
      expect((await probe(readyz)).status).toBe(200);

      await consumer.stop();
      stopped = true;
      const after = await probe(readyz);
      expect(after.status).toBe(503);
      expect(after.body.checks?.group).toEqual(expect.objectContaining({ ok: false, reason: 'not joined yet' }));
      expect((await probe(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/nothing-here`)).status).toBe(404);
    } finally {
      if (!stopped) await consumer.stop();
      await server?.close();
    }
  }, 90_000);
});
