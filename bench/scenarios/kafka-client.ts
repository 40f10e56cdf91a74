import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Endpoints } from '../../src/config/env';
import type { TypedEvent } from '../../src/events/generated';
import type { KafkaDriver, TopicRecords } from '../../src/kafka/driver';
import { kafkajsDriver } from '../../src/kafka/kafkajs-driver';
import type { TopicNames } from '../../src/kafka/topics';
import { Platform } from '../../src/platform';
import { ensurePlatformatic } from '../clients/install';
import { platformaticDriver } from '../clients/platformatic-driver';
import { eventHeaders } from '../../src/producer/publisher';
import { averageSize, benchEvents, encodeEvents, type EncodedEvent } from '../harness/fixtures';
import { fromSamples, perSecond, type Scenario } from '../harness/scenario';

/** The publish scenario's batching: requests of 500 records, 5,000 in flight. */
const WINDOW = 5_000;
const BATCH = 500;
const WARM_UP = 5_000;
const CLIENTS = ['kafkajs', 'platformatic'] as const;
type Client = (typeof CLIENTS)[number];
/** The consumer runtime's fetch settings, for both clients. */
const CONSUMER = { sessionTimeout: 30_000, heartbeatInterval: 3_000, maxBytesPerPartition: 1024 * 1024, maxWaitTimeInMs: 1_000 };
const NODE_LINE = 22;

interface ChildRun {
  endpoints: Endpoints;
  clientId: string;
  events: number;
  /** Per round (warm-up first) and client, the pair of topics to produce to and consume from. */
  topics: Array<Record<Client, TopicNames>>;
  /** Topics the bench's schemas are registered under (the same subjects encode every event). */
  schemaTopics: TopicNames;
  /** The bench's own install of @platformatic/kafka (bench/clients/install.ts). */
  platformaticHome: string;
}
type RoundRates = Record<Client, { produce: number; consume: number }>;
type Reply = { type: 'progress'; line: string } | { type: 'done'; rounds: RoundRates[]; avgValueBytes: number } | { type: 'failed'; error: string };

/**
 * kafkajs against @platformatic/kafka behind Tidings' driver interface (src/kafka/driver.ts),
 * both in one child process on the same Node 22 (platformatic needs it; the bench runs on the
 * machine's default Node): produce N pre-encoded events (the publish scenario's values, keys,
 * headers and batching, idempotent, acks=all) to fresh topics, then consume them back with a
 * fresh consumer group, committing after each partition batch. Clients alternate within each
 * round; consume is timed from the first record handed over to the commit of the last one, so
 * the group join (its timing is the broker's) is left out.
 */
export const kafkaClient: Scenario = {
  name: 'kafka-client',
  description: `kafkajs vs @platformatic/kafka behind the driver interface on Node ${NODE_LINE}: produce (idempotent, acks=all) and consume with a group`,
  async run(ctx) {
    const stack = await ctx.stack();
    const rounds: ChildRun['topics'] = [];
    for (let round = 0; round <= ctx.rounds; round++) {
      const pair = {} as Record<Client, TopicNames>;
      for (const client of CLIENTS) {
        const name = `${client}${round}`;
        pair[client] = { auth: await stack.createTopic(`${name}.auth`), payment: await stack.createTopic(`${name}.payment`) };
      }
      rounds.push(pair);
    }
    const node = await nodeOfLine(NODE_LINE);
    ctx.progress(`  child on Node ${NODE_LINE}: ${node}`);
    const platformaticHome = ensurePlatformatic(ctx.progress);
    const run: ChildRun = { endpoints: stack.platform.endpoints, clientId: `${stack.id}-clients`, events: ctx.events, topics: rounds, schemaTopics: stack.topics, platformaticHome };
    const { rounds: measured, avgValueBytes } = await runChild(node, run, ctx.progress);

    const detail = { events: ctx.events, window: WINDOW, batch: BATCH, avgValueBytes, node: NODE_LINE };
    const samples = (client: Client, side: 'produce' | 'consume'): number[] => measured.map((r) => r[client][side]);
    return {
      measurements: [
        fromSamples('kafkajs-produce', 'events/s', samples('kafkajs', 'produce'), detail),
        fromSamples('platformatic-produce', 'events/s', samples('platformatic', 'produce'), detail),
        fromSamples('kafkajs-consume', 'events/s', samples('kafkajs', 'consume'), detail),
        fromSamples('platformatic-consume', 'events/s', samples('platformatic', 'consume'), detail),
      ],
      comparisons: [
        { measurement: 'platformatic-produce', baseline: 'kafkajs-produce', note: 'offered by configuration only at ≥ 1.3 on both (docs/kafka-client.md)' },
        { measurement: 'platformatic-consume', baseline: 'kafkajs-consume', note: 'offered by configuration only at ≥ 1.3 on both (docs/kafka-client.md)' },
      ],
    };
  },
};

/** The binary of a declared Node line, from scripts/node-lines.cjs's cache (TIDINGS_NODE_CACHE), fetched on first use. */
async function nodeOfLine(line: number): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lines = require(path.join(__dirname, '..', '..', 'scripts', 'node-lines.cjs')) as { ensureNodeLines(): Promise<Array<{ line: number; node: string }>> };
  const runtime = (await lines.ensureNodeLines()).find((r) => r.line === line);
  if (!runtime) throw new Error(`scripts/node-lines.cjs declares no Node ${line}`);
  return runtime.node;
}

function runChild(node: string, run: ChildRun, progress: (line: string) => void): Promise<{ rounds: RoundRates[]; avgValueBytes: number }> {
  // The parent's execArgv (tsx's loader, --cpu-prof…) is inherited.
  const child: ChildProcess = fork(__filename, { execPath: node, env: { ...process.env, TIDINGS_KAFKA_CLIENT_BENCH: '1' } });
  return new Promise((resolve, reject) => {
    child.on('message', (reply: Reply) => {
      if (reply.type === 'progress') progress(reply.line);
      else if (reply.type === 'done') resolve(reply);
      else reject(new Error(`kafka-client child: ${reply.error}`));
      if (reply.type !== 'progress') child.disconnect();
    });
    child.on('exit', (code, signal) => reject(new Error(`kafka-client child exited (${signal ?? `code ${code}`}) before it reported`)));
    child.send(run);
  });
}

/** The child: every round, each client produces then consumes; clients alternate who goes first. */
async function measure(run: ChildRun, send: (reply: Reply) => void): Promise<void> {
  const platform = new Platform({ endpoints: run.endpoints, topics: run.schemaTopics, clientId: run.clientId });
  try {
    const events = benchEvents(run.events);
    const encoded = await encodeEvents(events, platform.registry, run.schemaTopics);
    const drivers: Record<Client, KafkaDriver> = {
      kafkajs: kafkajsDriver(platform.kafka),
      platformatic: platformaticDriver({ brokers: run.endpoints.kafkaBrokers, clientId: run.clientId, security: run.endpoints.kafkaSecurity }, run.platformaticHome),
    };
    const warmUp = Math.min(WARM_UP, events.length);
    const results: RoundRates[] = [];
    for (let round = 0; round < run.topics.length; round++) {
      const count = round === 0 ? warmUp : events.length;
      const order = round % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
      const rates = {} as RoundRates;
      for (const client of order) {
        const topics = run.topics[round]![client];
        send({ type: 'progress', line: `    ${round === 0 ? 'warm-up' : `round ${round}`}: ${client} producing ${count}` });
        const produce = await produceAll(drivers[client], windows(events.slice(0, count), encoded.slice(0, count), run.schemaTopics, topics));
        const consume = await consumeAll(drivers[client], [topics.auth, topics.payment], count, `${run.clientId}.${client}${round}`);
        rates[client] = { produce: perSecond(count, produce), consume: perSecond(count, consume) };
      }
      if (round === 0) continue;
      results.push(rates);
      const line = CLIENTS.map((c) => `${c} produce ${Math.round(rates[c].produce)}/s consume ${Math.round(rates[c].consume)}/s`).join(', ');
      send({ type: 'progress', line: `  round ${round}: ${line}` });
    }
    send({ type: 'done', rounds: results, avgValueBytes: Math.round(averageSize(encoded)) });
  } finally {
    await platform.close();
  }
}

/** The publish scenario's requests (values, keys, headers, timestamps as the SDK writes them), to `topics`. */
function windows(events: TypedEvent[], encoded: EncodedEvent[], schemaTopics: TopicNames, topics: TopicNames): TopicRecords[][][] {
  const out: TopicRecords[][][] = [];
  for (let w = 0; w < events.length; w += WINDOW) {
    const requests: TopicRecords[][] = [];
    for (let b = w; b < Math.min(w + WINDOW, events.length); b += BATCH) {
      const byTopic = new Map<string, TopicRecords>();
      for (let i = b; i < Math.min(b + BATCH, events.length); i++) {
        const { type, event } = events[i]!;
        const e = encoded[i]!;
        const topic = e.topic === schemaTopics.auth ? topics.auth : topics.payment;
        let entry = byTopic.get(topic);
        if (!entry) byTopic.set(topic, (entry = { topic, messages: [] }));
        entry.messages.push({ key: e.key, value: e.value, timestamp: String(event.occurred_at), headers: eventHeaders(type, event.event_id) });
      }
      requests.push([...byTopic.values()]);
    }
    out.push(requests);
  }
  return out;
}

/** Nanoseconds to send every window (its requests concurrently), connection set-up excluded. */
async function produceAll(driver: KafkaDriver, requests: TopicRecords[][][]): Promise<bigint> {
  const producer = driver.producer({ partitioner: 'java' });
  await producer.connect();
  try {
    const start = process.hrtime.bigint();
    for (const window of requests) await Promise.all(window.map((batch) => producer.send(batch)));
    return process.hrtime.bigint() - start;
  } finally {
    await producer.disconnect();
  }
}

/** A consumer that gets nothing for this long has stalled: the scenario fails rather than hang. */
const STALL_MS = 60_000;

/** Nanoseconds from the first record a new group is handed to the commit of the `count`th. */
async function consumeAll(driver: KafkaDriver, topics: string[], count: number, groupId: string): Promise<bigint> {
  const consumer = driver.consumer({ ...CONSUMER, groupId });
  let seen = 0;
  let bytes = 0;
  let start: bigint | undefined;
  let finish!: (ns: bigint) => void;
  let stalled!: (error: Error) => void;
  const done = new Promise<bigint>((resolve, reject) => {
    finish = resolve;
    stalled = reject;
  });
  const watchdog = setTimeout(() => stalled(new Error(`${driver.name} consumer stalled at ${seen} of ${count} records`)), STALL_MS);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run(async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      start ??= process.hrtime.bigint();
      watchdog.refresh();
      for (const m of batch.messages) bytes += m.value?.length ?? 0;
      const last = batch.messages[batch.messages.length - 1];
      if (!last) return;
      resolveOffset(last.offset);
      await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }] }] });
      seen += batch.messages.length;
      if (seen >= count) finish(process.hrtime.bigint() - start);
    });
    const elapsed = await done.finally(() => clearTimeout(watchdog));
    if (seen !== count || bytes === 0) throw new Error(`${driver.name} consumed ${seen} records, expected ${count}`);
    return elapsed;
  } finally {
    await consumer.disconnect();
  }
}

if (process.env.TIDINGS_KAFKA_CLIENT_BENCH === '1' && process.send) {
  const send = (reply: Reply): void => void process.send!(reply);
  process.once('message', (run: ChildRun) => {
    measure(run, send).catch((error: unknown) => send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
  });
  process.on('disconnect', () => process.exit(0));
}
