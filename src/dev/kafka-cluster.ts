import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';
import { waitUntil } from './background-process';
import { KafkaServer, canListTopics, newClusterId, withProbeAdmin } from './kafka-server';

/**
 * The cluster `tidings dev up --brokers <n>` runs beside the single broker: n KRaft nodes on
 * loopback, each broker and controller in one process (KafkaServer), all of them voters, so a
 * cluster of 3 keeps working with one node lost. New topics get 3 replicas and
 * `min.insync.replicas=2`, as do the offsets and transaction state topics: an acks=all write
 * is on two nodes before it is acknowledged, and one node may be down without stopping writes.
 *
 * Ports from TIDINGS_KAFKA_CLUSTER_PORT (default 9192): node i (1..n) serves clients on
 * base+i-1 and its controller on base+n+i-1 (3 nodes: 9192-9194, controllers 9195-9197).
 * Everything lives in `<home>/kafka-cluster/`: cluster.json (id and size), node-<i>/ (data,
 * logs), run/ (pid files and output).
 */
export const KAFKA_CLUSTER_DEFAULT_PORT = 9192;
export const KAFKA_CLUSTER_DEFAULT_SIZE = 3;
/** Below 3 a cluster gains nothing over the single broker; the port layout keeps to one digit. */
export const KAFKA_CLUSTER_SIZES = { min: 3, max: 9 } as const;

export interface KafkaClusterOptions {
  /** The stack's home; the cluster lives in `<home>/kafka-cluster/`. */
  home: string;
  /** Nodes. Default: the size the cluster was set up with, else 3. */
  size?: number;
  /** First client port. Default 9192 (TIDINGS_KAFKA_CLUSTER_PORT). */
  port?: number;
  /** Where the Kafka jars' classpath is cached. Default `home`. */
  cacheHome?: string;
  /** Each node's JVM heap. Default 384m: three nodes and the rest of the stack fit a small machine. */
  heap?: string;
}

/** What is kept of a cluster between runs: every node's storage was formatted with this id. */
interface Manifest {
  clusterId: string;
  size: number;
}

export class KafkaCluster {
  readonly dir: string;
  readonly size: number;
  readonly nodes: KafkaServer[];
  /** Replicas of each new topic (the broker's default.replication.factor). */
  readonly replicationFactor = 3;
  /** Copies an acks=all write must reach before it is acknowledged. */
  readonly minInsyncReplicas = 2;
  private readonly manifestFile: string;
  /** Set until the first start writes it: a cluster that never started has nothing to keep. */
  private pendingManifest: Manifest | undefined;

  constructor(options: KafkaClusterOptions) {
    this.dir = path.join(options.home, 'kafka-cluster');
    this.manifestFile = path.join(this.dir, 'cluster.json');
    const recorded = this.manifest();
    this.size = options.size ?? recorded?.size ?? KAFKA_CLUSTER_DEFAULT_SIZE;
    if (!Number.isInteger(this.size) || this.size < KAFKA_CLUSTER_SIZES.min || this.size > KAFKA_CLUSTER_SIZES.max) {
      throw new StackError(`a local Kafka cluster has ${KAFKA_CLUSTER_SIZES.min} to ${KAFKA_CLUSTER_SIZES.max} nodes (asked for ${options.size})`);
    }
    if (recorded && recorded.size !== this.size) {
      throw new StackError(
        `the local Kafka cluster in ${this.dir} was set up with ${recorded.size} nodes, not ${this.size}: ` +
          `run \`tidings dev up --brokers ${recorded.size}\`, or stop it (\`tidings dev down\`) and delete ${this.dir} to set up ${this.size}`,
      );
    }
    const base = options.port ?? KAFKA_CLUSTER_DEFAULT_PORT;
    const ids = Array.from({ length: this.size }, (_, i) => i + 1);
    const controllerPort = (id: number): number => base + this.size + id - 1;
    const quorumVoters = ids.map((id) => `${id}@127.0.0.1:${controllerPort(id)}`).join(',');
    const clusterId = recorded?.clusterId ?? newClusterId();
    this.nodes = ids.map(
      (nodeId) =>
        new KafkaServer({
          home: this.dir,
          name: `node-${nodeId}`,
          port: base + nodeId - 1,
          controllerPort: controllerPort(nodeId),
          cacheHome: options.cacheHome ?? options.home,
          heap: options.heap ?? '384m',
          cluster: { nodeId, quorumVoters, clusterId, replicationFactor: this.replicationFactor, minInsyncReplicas: this.minInsyncReplicas },
        }),
    );
    if (!recorded) this.pendingManifest = { clusterId, size: this.size };
  }

  /** `127.0.0.1:9192,…`: what KAFKA_BROKERS is set to for a client of this cluster. */
  get brokers(): string[] {
    return this.nodes.flatMap((node) => node.brokers);
  }

  /** Whether this cluster was set up here (started at least once), running or not. */
  isSetUp(): boolean {
    return this.manifest() !== undefined;
  }

  /** Starts the nodes that are not running; resolves once every node is a registered broker. */
  async start(): Promise<void> {
    if (this.pendingManifest) {
      fs.mkdirSync(this.dir, { recursive: true });
      fs.writeFileSync(this.manifestFile, JSON.stringify(this.pendingManifest, null, 2));
      this.pendingManifest = undefined;
    }
    // Together: a node alone has no controller quorum and never gets ready.
    await Promise.all(this.nodes.map((node) => node.start()));
    await waitUntil(`Kafka cluster ${this.brokers.join(',')} with ${this.size} brokers`, async () => (await registeredBrokers(this.brokers)) === this.size, {
      timeoutMs: 60_000,
      intervalMs: 500,
      describeFailure: () => this.nodes.map((node) => `${node.proc.name}: ${node.proc.isRunning() ? 'running' : `exited; last log lines:\n${node.proc.tail()}`}`).join('\n'),
    });
  }

  /** Stops every node; true when one was running. */
  async stop(): Promise<boolean> {
    return (await Promise.all(this.nodes.map((node) => node.stop()))).some(Boolean);
  }

  /** Each node's state: whether it runs and answers clients. */
  async nodeStatus(): Promise<Array<{ node: KafkaServer; up: boolean }>> {
    return Promise.all(this.nodes.map(async (node) => ({ node, up: node.proc.isRunning() && (await canListTopics(node.brokers)) })));
  }

  private manifest(): Manifest | undefined {
    if (!fs.existsSync(this.manifestFile)) return undefined;
    const parsed = JSON.parse(fs.readFileSync(this.manifestFile, 'utf8')) as Partial<Manifest>;
    if (typeof parsed.clusterId !== 'string' || !Number.isInteger(parsed.size)) throw new StackError(`${this.manifestFile} is not a cluster manifest: delete ${this.dir} to set the cluster up again`);
    return { clusterId: parsed.clusterId, size: parsed.size as number };
  }
}

/** How many brokers the cluster's metadata lists (0 when it does not answer). */
export function registeredBrokers(brokers: string[]): Promise<number> {
  return withProbeAdmin(brokers, undefined, 0, async (admin) => (await admin.describeCluster()).brokers.length);
}
