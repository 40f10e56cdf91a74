import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KafkaCluster } from '../../src/dev/kafka-cluster';
import type { KafkaServer } from '../../src/dev/kafka-server';
import { stackHome } from '../../src/dev/paths';
import { isPortFree } from '../../src/dev/ports';
import { runTidings, type CliResult } from './tidings-cli';
import { waitFor } from './wait';

/**
 * A three-node Kafka cluster for one test file, started as a user starts it — `tidings dev up
 * --brokers 3` — in a home of its own (TIDINGS_HOME) on free ports, so the shared stack is
 * not touched: its broker, registry, SMTP and PostgreSQL answer and are reused as they are.
 */
export interface TestCluster {
  /** The bootstrap list `dev up` printed (`KAFKA_BROKERS=…`). */
  brokers: string[];
  /** The same cluster seen from the test, to kill and restart its nodes. */
  cluster: KafkaCluster;
  /** What `tidings dev up --brokers 3` printed. */
  upOutput: string;
  /** `tidings dev <command>` with the cluster's home and ports. */
  dev(command: 'status' | 'down'): Promise<CliResult>;
  /** kill -9 of a node's process; resolves once it is gone. */
  kill(node: KafkaServer): Promise<void>;
  /** `dev down`, then the home is deleted. */
  dispose(): Promise<void>;
}

const NODES = 3;

export async function startTestCluster(): Promise<TestCluster> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-cluster-'));
  // The jars' classpath comes from the shared stack's cache (no Maven run); nothing else of it is used.
  const cache = path.join('cache', fs.readdirSync(path.join(stackHome(), 'cache')).find((dir) => dir.startsWith('kafka-')) ?? 'kafka');
  fs.mkdirSync(path.join(home, cache), { recursive: true });
  fs.copyFileSync(path.join(stackHome(), cache, 'classpath.txt'), path.join(home, cache, 'classpath.txt'));
  const port = await freePortRange(2 * NODES);
  const env = { TIDINGS_HOME: home, TIDINGS_KAFKA_CLUSTER_PORT: String(port) };
  const dev = (command: 'status' | 'down'): Promise<CliResult> => runTidings(['dev', command], env);

  const up = await runTidings(['dev', 'up', '--brokers', String(NODES)], env);
  if (up.code !== 0) {
    await dev('down');
    throw new Error(`tidings dev up --brokers ${NODES} failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
  }
  const brokers = /^\s*KAFKA_BROKERS=(\S+)$/m.exec(up.stdout)?.[1]?.split(',');
  if (!brokers) throw new Error(`tidings dev up --brokers ${NODES} printed no KAFKA_BROKERS line:\n${up.stdout}`);
  return {
    brokers,
    cluster: new KafkaCluster({ home, port }),
    upOutput: up.stdout,
    dev,
    async kill(node) {
      const pid = node.proc.pid();
      if (pid === undefined) throw new Error(`${node.proc.name} is not running`);
      // Its process group: the JVM and anything it started, as a machine's crash would.
      process.kill(-pid, 'SIGKILL');
      await waitFor(`${node.proc.name} to be gone`, () => !node.proc.isRunning(), 10_000, 50);
    },
    async dispose() {
      const down = await dev('down');
      if (down.code !== 0) throw new Error(`tidings dev down failed (${down.code}):\n${down.stdout}\n${down.stderr}`);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The first of `count` consecutive loopback ports nothing listens on. */
async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), where outgoing connections could take one meanwhile.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map((p) => isPortFree(p)))).every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
