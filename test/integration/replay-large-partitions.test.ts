import { spawn } from 'node:child_process';
import path from 'node:path';
import { sampleStream, seededRng } from '../../src/events/samples';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import type { CliResult } from '../helpers/tidings-cli';

/**
 * A replay reads partitions far larger than one fetch (kafkajs fetches at most 1 MB of a
 * partition at a time): one partition per topic, about 2.4 MB of events in it. A reader that
 * does not move its fetch position past what it handled reads the first megabyte forever.
 */
const EVENTS = 8_000;
let ctx: TestContext;
let publisher: Publisher;

beforeAll(async () => {
  ctx = await createTestContext({ partitions: 1 });
  publisher = ctx.platform.createPublisher({ maxBatchSize: 500 });
  await publisher.connect();
  const events = sampleStream(EVENTS, { rng: seededRng(7), users: 500 });
  for (let i = 0; i < events.length; i += 2_000) await Promise.all(events.slice(i, i + 2_000).map(({ type, event }) => publisher.publish(type, event)));
});

afterAll(async () => {
  await publisher?.disconnect();
  await ctx?.dispose();
});

/** `tidings replay …` as its own process, killed if it has not finished after `ms`. */
function replay(args: string[], ms: number): Promise<CliResult & { timedOut: boolean }> {
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), 'replay', ...args, '--topic-prefix', `${ctx.id}.`, '--json'], {
    env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: ctx.databaseUrl, KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl, TIDINGS_ACTOR: 'oncall@large-replay' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, ms);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

describe('replaying partitions larger than one fetch', () => {
  it('a dry run reads every record of every partition to its end', async () => {
    const out = await replay(['--from', '2000-01-01T00:00:00Z', '--dry-run'], 60_000);
    expect(out.timedOut).toBe(false);
    expect(out.code).toBe(0);
    const scan = JSON.parse(out.stdout) as { counts: { read: number }; partitions: Array<{ topic: string; read: number; to: string }> };
    expect(scan.counts.read).toBe(EVENTS);
    for (const p of scan.partitions) expect(p.read).toBe(Number(p.to));
    // Each topic's single partition holds more than one fetch's worth.
    expect(Math.max(...scan.partitions.map((p) => p.read))).toBeGreaterThan(3_000);
  });

  it('a reprocess through a group applies every event of the range', async () => {
    const groupId = ctx.groupId('analytics');
    const out = await replay(['--group', 'analytics', '--group-id', groupId, '--from', '2000-01-01T00:00:00Z', '--chunk-size', '500'], 90_000);
    expect(out.timedOut).toBe(false);
    expect(out.code).toBe(0);
    const applied = (await ctx.db('inbox').where({ consumer_group: groupId }).count({ n: '*' }).first()) as { n: string } | undefined;
    expect(Number(applied?.n)).toBe(EVENTS);
  });
});
