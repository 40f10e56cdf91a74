import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KafkaServer } from '../../src/dev/kafka-server';
import { stackHome } from '../../src/dev/paths';

/** Asks Kafka's own Java client which partition each key goes to among `partitions`. */
export function javaPartitionsFor(keys: string[], partitions: number): number[] {
  const classpath = new KafkaServer({ home: stackHome() }).install().join(path.delimiter);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-murmur-'));
  const source = path.join(dir, 'Partitions.java');
  fs.writeFileSync(
    source,
    `public class Partitions {
  public static void main(String[] args) {
    int n = Integer.parseInt(args[0]);
    for (int i = 1; i < args.length; i++) {
      byte[] key = args[i].getBytes(java.nio.charset.StandardCharsets.UTF_8);
      System.out.println(org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey(key, n));
    }
  }
}
`,
  );
  const run = spawnSync('java', ['-cp', classpath, source, String(partitions), ...keys], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  if (run.status !== 0) throw new Error(`java failed: ${run.stderr}`);
  return run.stdout.trim().split('\n').map(Number);
}
