import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { findJava } from '../../src/dev/java';
import { KafkaServer } from '../../src/dev/kafka-server';
import { stackHome } from '../../src/dev/paths';
import { averageSize, benchEvents, encodeEvents } from '../harness/fixtures';
import { fromSamples, type Scenario } from '../harness/scenario';

const run = promisify(execFile);

/**
 * Kafka's own Java producer perf tool on the same broker, with records as large as the
 * SDK's average encoded event: the most this broker and machine take from one producer.
 * The SDK's number is shown beside it from the `publish` scenario.
 */
export const kafkaJavaCeiling: Scenario = {
  name: 'kafka-java-ceiling',
  description: "Kafka's Java ProducerPerformance (idempotent, acks=all) on the same broker, records of the SDK's average encoded size",
  async run(ctx) {
    const stack = await ctx.stack();
    const events = benchEvents(ctx.events);
    const recordSize = Math.round(averageSize(await encodeEvents(events, stack.platform.registry, stack.topics)));
    const topic = await stack.createTopic('java-perf');
    const classpath = new KafkaServer({ home: stackHome() }).install().join(path.delimiter);

    const rates: number[] = [];
    const lines: string[] = [];
    for (let round = 0; round < ctx.rounds; round++) {
      const { stdout } = await run(
        findJava(17),
        [
          // Small heap: the broker and the registry share these 2 cores and their memory.
          '-Xmx256m',
          '-cp',
          classpath,
          'org.apache.kafka.tools.ProducerPerformance',
          '--topic',
          topic,
          '--num-records',
          String(events.length),
          '--record-size',
          String(recordSize),
          '--throughput',
          '-1',
          // `--producer-props` still works in 4.4 but is deprecated in favour of this name.
          '--command-property',
          `bootstrap.servers=${stack.brokers.join(',')}`,
          'acks=all',
          'enable.idempotence=true',
        ],
        { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
      );
      const summary = parseSummary(stdout);
      ctx.progress(`  round ${round + 1}: java ${Math.round(summary.recordsPerSecond)} events/s`);
      rates.push(summary.recordsPerSecond);
      lines.push(summary.line);
    }

    // The tool's own summary of the median round (latencies, MB/s) goes with the number.
    const java = fromSamples('java-producer-perf', 'events/s', rates, { events: events.length, recordBytes: recordSize });
    java.detail = { ...java.detail, summary: lines[rates.indexOf([...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)] as number)] ?? '' };
    return {
      measurements: [java],
      comparisons: [
        { measurement: 'publish/sdk', baseline: 'java-producer-perf', note: 'SDK against the Java ceiling' },
        // Shows how much of the gap is kafkajs itself rather than the SDK.
        { measurement: 'publish/raw-kafkajs', baseline: 'java-producer-perf', note: 'raw kafkajs against the Java ceiling' },
      ],
    };
  },
};

interface Summary {
  recordsPerSecond: number;
  line: string;
}

/** The tool prints progress lines every few seconds, then one final line with percentiles. */
export function parseSummary(stdout: string): Summary {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => / records sent, .* 99th/.test(l))
    .pop();
  const rate = line ? /records sent, ([\d.]+) records\/sec/.exec(line)?.[1] : undefined;
  if (!line || rate === undefined) throw new Error(`no summary line in ProducerPerformance output:\n${stdout.slice(-2000)}`);
  return { recordsPerSecond: Number(rate), line };
}
