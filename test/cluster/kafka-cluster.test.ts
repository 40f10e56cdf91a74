import type { Admin } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import { dlqTopic } from '../../src/consumer/retry-topology';
import type { TypedEvent } from '../../src/events/generated';
import { sampleEvent, seededRng } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { memberAssignments } from '../helpers/cluster-group';
import { startTestCluster, type TestCluster } from '../helpers/cluster-stack';
import { startConsumerProcess, type ConsumerProcess } from '../helpers/consumer-process';
import { waitForGroupToCatchUp } from '../helpers/group-progress';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

/**
 * The notification group on a three-node KRaft cluster (`tidings dev up --brokers 3`, RF 3,
 * min.insync.replicas 2), its workers as separate `tidings run notification` processes: a
 * broker killed -9 in the middle of the stream, and the group scaled from one instance to
 * three, each lose and repeat nothing. The cluster is this file's own (free ports, a home of
 * its own); the registry, SMTP and PostgreSQL are the shared stack's.
 */
const PARTITIONS = 6;
const EVENTS = 2_400;
const BATCH = 50;

/**
 * Clean-up that names what it waits for: `work`, logged every 20 s while it runs, given up
 * after `limitMs` with a loud line (returns undefined). CI twice saw this file's clean-up
 * after the broker kill outlive the 120 s hook limit, with the test's assertions passed; the
 * lines say which step it was (open in the notes of issue #13).
 */
async function labelled<T>(what: string, work: Promise<T>, limitMs: number): Promise<T | undefined> {
  const started = Date.now();
  const timer = setInterval(() => console.log(`still waiting for ${what} after ${Math.round((Date.now() - started) / 1000)} s`), 20_000);
  let limit: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<undefined>((resolve) => {
        limit = setTimeout(() => {
          console.log(`CLEAN-UP STUCK: gave up waiting for ${what} after ${limitMs / 1000} s`);
          resolve(undefined);
        }, limitMs);
      }),
    ]);
  } finally {
    clearInterval(timer);
    clearTimeout(limit);
  }
}

describe('a three-broker Kafka cluster', () => {
  let cluster: TestCluster;
  let ctx: TestContext;
  let admin: Admin;
  let publisher: Publisher;
  const workers: ConsumerProcess[] = [];
  const environment = { ...process.env };

  beforeAll(async () => {
    cluster = await startTestCluster();
    // The test contexts' topics, publishers and workers go to the cluster (process.env is this file's own copy).
    process.env.KAFKA_BROKERS = cluster.brokers.join(',');
  }, 120_000);

  afterAll(async () => {
    process.env = environment;
    await cluster?.dispose();
  }, 60_000);

  beforeEach(async () => {
    ctx = await createTestContext({ partitions: PARTITIONS });
    admin = ctx.platform.kafka.admin();
    await admin.connect();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      worker.child.kill('SIGTERM');
      // A stop that outlives the worker's shutdown timeout (30 s) ends with status 1; its log says what it waited for.
      const exit = await labelled('a worker to exit after SIGTERM', worker.exited, 45_000);
      if (!exit) worker.child.kill('SIGKILL');
      const { code, output } = exit ?? (await worker.exited);
      if (code !== 0) console.log(`a worker stopped with status ${code}:\n${output.slice(-4000)}`);
    }
    await labelled('the publisher to disconnect', publisher.disconnect(), 20_000);
    await labelled('the admin client to disconnect', admin.disconnect(), 20_000);
    await labelled('the test context to close', ctx.dispose(), 30_000);
  }, 150_000);

  const groupId = (): string => ctx.groupId('notification');
  const sources = (): string[] => [ctx.topics.auth, ctx.topics.payment];
  const count = async (table: string, where: Record<string, string> = {}): Promise<number> =>
    Number(((await ctx.db(table).where(where).count('* as n').first()) as { n: string }).n);

  /** Payment events, three succeeded for each failed, over 300 users (so every partition gets some). */
  function payments(n: number, seed: number): TypedEvent[] {
    const rng = seededRng(seed);
    return Array.from({ length: n }, (_, i) => {
      const type = i % 4 === 3 ? 'PAYMENT_FAILED' : 'PAYMENT_SUCCEEDED';
      const event = sampleEvent(type, { user_id: `cluster-user-${i % 300}` }, rng);
      event.recipient = { ...event.recipient, email: `cluster-${i}@example.com` };
      return { type, event } as TypedEvent;
    });
  }

  /**
   * Publishes in batches as a careful service does (a publish that fails is sent again until
   * acknowledged), running `steps[k]` once `k` thirds of the events are published; returns
   * how many publishes were sent again.
   */
  async function publishStream(events: TypedEvent[], steps: Record<number, () => Promise<void>>): Promise<number> {
    let resent = 0;
    for (let i = 0; i < events.length; i += BATCH) {
      const third = (3 * i) / events.length;
      if (Number.isInteger(third)) await steps[third]?.();
      await Promise.all(
        events.slice(i, i + BATCH).map(async ({ type, event }) => {
          for (;;) {
            try {
              return await publisher.publish(type, event);
            } catch {
              resent++;
            }
          }
        }),
      );
    }
    return resent;
  }

  const workerJoined = (members: number): Promise<Map<string, string[]>> => waitFor(`${members} notification worker(s) in the group`, () => memberAssignments(admin, groupId(), members), 60_000, 250);

  /** Every event has one inbox row, payments that succeeded one receipt, and one email went out per event. */
  async function expectEachEventOnce(events: TypedEvent[]): Promise<void> {
    await waitForGroupToCatchUp(ctx.platform.kafka, groupId(), sources(), 120_000);
    const succeeded = events.filter((e) => e.type === 'PAYMENT_SUCCEEDED').map((e) => e.event.event_id);
    await waitFor('an email per event', async () => (await count('delivery_ledger', { channel: 'email', status: 'sent' })) >= events.length, 60_000, 250).catch(async (error: Error) => {
      const ledger = await ctx.db('delivery_ledger').select('channel', 'status').count('* as n').groupBy('channel', 'status');
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${ctx.id}.`));
      const records = await Promise.all(topics.map(async (t) => `${t}=${await countRecords(ctx.platform.kafka, t)}`));
      const inbox = await count('inbox');
      for (const worker of workers) worker.child.kill('SIGTERM');
      const output = await Promise.all(workers.map(async (w, i) => `worker ${i + 1}: ${(await w.exited).output.slice(-4000)}`));
      throw new Error(`${error.message}; ledger ${JSON.stringify(ledger)}; inbox ${inbox}; ${records.join(' ')}\n${output.join('\n')}`);
    });

    const receipts: Array<{ event_id: string }> = await ctx.db('receipts').select('event_id');
    expect(receipts).toHaveLength(succeeded.length);
    expect(new Set(receipts.map((r) => r.event_id))).toEqual(new Set(succeeded));
    const inbox: Array<{ event_id: string }> = await ctx.db('inbox').where({ consumer_group: groupId() }).select('event_id');
    expect(inbox).toHaveLength(events.length);
    expect(new Set(inbox.map((r) => r.event_id))).toEqual(new Set(events.map((e) => e.event.event_id)));
    expect(await count('delivery_ledger', { channel: 'email' })).toBe(events.length);
    const mailed = ctx.mail.messages.map((m) => m.headers['x-tidings-event-id']);
    expect(mailed).toHaveLength(events.length);
    expect(new Set(mailed)).toEqual(new Set(events.map((e) => e.event.event_id)));
    expect(await countRecords(ctx.platform.kafka, dlqTopic({ name: 'notification', sources: [], delaysMs: [] }, ctx.topics.payment))).toBe(0);
  }

  /** Each partition of `topics`: its leader and in-sync replicas. */
  async function partitionStates(topics: string[]): Promise<Array<{ leader: number; isr: number[]; replicas: number[] }>> {
    const { topics: described } = await admin.fetchTopicMetadata({ topics });
    return described.flatMap((t) => t.partitions.map((p) => ({ leader: p.leader, isr: p.isr, replicas: p.replicas })));
  }

  it('dev up printed the bootstrap list and dev status shows the three nodes up', async () => {
    expect(cluster.upOutput).toContain(`KAFKA_BROKERS=${cluster.brokers.join(',')}`);
    expect(cluster.brokers).toHaveLength(3);
    const status = await cluster.dev('status');
    expect(status.code).toBe(0);
    for (const [i, broker] of cluster.brokers.entries()) expect(status.stdout).toMatch(new RegExp(`^up +kafka-node-${i + 1} +${broker.replace(/\./g, '\\.')} .*node ${i + 1} of 3`, 'm'));
  });

  it('loses and repeats no receipt when a broker leading partitions is killed -9 mid-stream, and takes it back after a restart', async () => {
    // What makes this survivable: three copies of each partition, acks=all needing two of them.
    expect((await partitionStates(sources())).every((p) => p.replicas.length === 3 && p.isr.length === 3)).toBe(true);
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: ctx.topics.payment, configNames: ['min.insync.replicas'] }] });
    expect(resources[0]?.configEntries[0]?.configValue).toBe('2');

    workers.push(startConsumerProcess(ctx));
    await workerJoined(1);
    const victimId = (await partitionStates([ctx.topics.payment]))[0]!.leader;
    const victim = cluster.cluster.nodes[victimId - 1]!;
    const events = payments(EVENTS, 21);
    const resent = await publishStream(events, {
      1: async () => {
        await waitFor('the worker to write receipts', async () => (await count('receipts')) > 0, 60_000, 50);
        await cluster.kill(victim);
      },
    });
    // Everything was published with the node dead: other nodes lead its partitions now.
    const failedOver = await partitionStates(sources());
    expect(failedOver.filter((p) => p.leader === victimId || p.isr.includes(victimId))).toEqual([]);

    await victim.start();
    await waitFor(`node ${victimId} back in every partition's in-sync replicas`, async () => (await partitionStates(sources())).every((p) => p.isr.length === 3), 60_000, 250);
    await expectEachEventOnce(events);
    expect(workers[0]!.child.exitCode).toBeNull();
    console.log(`killed node ${victimId} (leader of ${ctx.topics.payment}/0) after ${Math.floor(EVENTS / 3)} of ${EVENTS} publishes; ${resent} publishes sent again`);
  }, 240_000);

  it('shares the partitions among three instances when the group grows from one to three mid-stream, processing each event once', async () => {
    // At info level each worker logs its counts when it stops.
    const instance = (): ConsumerProcess => startConsumerProcess(ctx, { env: { LOG_LEVEL: 'info' } });
    workers.push(instance());
    await workerJoined(1);
    const events = payments(EVENTS, 22);
    let assignments: Map<string, string[]> | undefined;
    await publishStream(events, {
      // A third in: two more instances start while the stream goes on.
      1: async () => {
        await waitFor('the first worker to write receipts', async () => (await count('receipts')) > 0, 60_000, 50);
        workers.push(instance(), instance());
      },
      // The last third is published to the group of three.
      2: async () => {
        assignments = await workerJoined(3);
      },
    });
    await expectEachEventOnce(events);

    // Every partition of both topics has one owner, and every instance owns some.
    const owned = [...assignments!.values()].flat().sort();
    expect(owned).toEqual(sources().flatMap((t) => Array.from({ length: PARTITIONS }, (_, p) => `${t}/${p}`)).sort());
    expect([...assignments!.values()].map((partitions) => partitions.length)).toEqual([4, 4, 4]);
    // Each instance applied part of the events and together they applied each one once.
    const processed = await Promise.all(
      workers.splice(0).map(async (worker) => {
        worker.child.kill('SIGTERM');
        const { code, output } = await worker.exited;
        expect(code).toBe(0);
        return Number(/"processed":(\d+)[^\n]*"msg":"stopped"/.exec(output)?.[1]);
      }),
    );
    expect(processed.every((n) => n > 0)).toBe(true);
    expect(processed.reduce((a, b) => a + b, 0)).toBe(events.length);
    console.log(`events applied per instance: ${processed.join(', ')}`);
  }, 240_000);
});
