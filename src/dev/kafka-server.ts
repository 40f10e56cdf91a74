import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { StackError } from '../errors';
import { kafkaSecurityConfig, type KafkaSecurity } from '../kafka/client';
import { BackgroundProcess, waitUntil } from './background-process';
import { findJava } from './java';
import { cachedClasspath, resolveClasspath } from './maven';

/**
 * An Apache Kafka node in KRaft combined mode (broker + controller), run from the Maven Central
 * jars: alone by default, or one node of a cluster (src/dev/kafka-cluster.ts). 4.4.0 is the
 * newest 4.x and kafkajs 2.2.4 passes the suite against it.
 */
export const KAFKA_VERSION = '4.4.0';
const LOG4J_VERSION = '2.25.3';

export interface KafkaServerOptions {
  home: string;
  port?: number;
  controllerPort?: number;
  heap?: string;
  /** Folder (under `home`) and process name of this broker. Default `kafka`. */
  name?: string;
  /** Where the jars' classpath is cached (`<cacheHome>/cache/kafka-<version>`). Default `home`. */
  cacheHome?: string;
  /** Listeners with SASL and TLS and an authorizer instead of one plaintext listener. Default: none. */
  security?: BrokerSecurity;
  /** This node's place in a cluster. Default: a cluster of its own (node 1, the only voter, RF 1). */
  cluster?: ClusterMembership;
}

/** What makes a node one of several: its id, the controller quorum and the replication every node applies. */
export interface ClusterMembership {
  nodeId: number;
  /** `controller.quorum.voters`: `1@127.0.0.1:9195,2@127.0.0.1:9196,…` */
  quorumVoters: string;
  /** Every node's storage is formatted with the cluster's one id. */
  clusterId: string;
  /** Replicas of new topics and of the offsets and transaction state topics. */
  replicationFactor: number;
  /** `min.insync.replicas`: acks=all writes fail, rather than being kept by fewer copies. */
  minInsyncReplicas: number;
}

/** A KRaft cluster id (what `kafka-storage random-uuid` prints: 22 base64url characters). */
export function newClusterId(): string {
  return randomUUID().replace(/-/g, '').slice(0, 22);
}

/** What makes a broker secure: its listeners' settings, its users, and how it is probed. */
export interface BrokerSecurity {
  /** server.properties lines for the listeners (client and controller), TLS, SASL and the authorizer. */
  properties(ports: { port: number; controllerPort: number }): string[];
  /** Extra arguments of the storage `format` (users created with the cluster, e.g. `--add-scram`). */
  formatArgs(): string[];
  /** How the readiness probe logs in: a super user, over TLS. */
  client(): KafkaSecurity;
}

export class KafkaServer {
  readonly port: number;
  readonly controllerPort: number;
  private readonly dir: string;
  private readonly process: BackgroundProcess;
  private classpath: string[] | undefined;

  constructor(private readonly options: KafkaServerOptions) {
    this.port = options.port ?? 9092;
    this.controllerPort = options.controllerPort ?? this.port + 1;
    this.dir = path.join(options.home, options.name ?? 'kafka');
    this.process = new BackgroundProcess(options.name ?? 'kafka', path.join(options.home, 'run'));
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  get proc(): BackgroundProcess {
    return this.process;
  }

  /** True when the broker's jars are cached and install() runs no Maven. */
  isInstalled(): boolean {
    return cachedClasspath(this.cacheDir) !== undefined;
  }

  private get cacheDir(): string {
    return path.join(this.options.cacheHome ?? this.options.home, 'cache', `kafka-${KAFKA_VERSION}`);
  }

  /** Downloads (once) the broker's jars; returns the classpath. */
  install(): string[] {
    this.classpath ??= resolveClasspath(this.cacheDir, [
      { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: KAFKA_VERSION },
      { groupId: 'org.apache.kafka', artifactId: 'kafka-tools', version: KAFKA_VERSION },
      // Kafka logs through slf4j 1.x; without a binding the broker prints nothing at all.
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J_VERSION },
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
    ]);
    return this.classpath;
  }

  async start(): Promise<void> {
    if (this.process.isRunning()) return this.waitReady();
    const java = findJava(17);
    const classpath = this.install().join(path.delimiter);
    const config = this.writeConfig();
    if (!fs.existsSync(path.join(this.dir, 'data', 'meta.properties'))) {
      const format = spawnSync(
        java,
        ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', this.options.cluster?.clusterId ?? newClusterId(), '-c', config, ...(this.options.security?.formatArgs() ?? [])],
        { encoding: 'utf8' },
      );
      // Its stdout lists the users' SCRAM keys: only its errors are shown.
      if (format.status !== 0) throw new StackError(`formatting Kafka storage failed:\n${format.stderr || format.stdout}`);
    }
    this.process.start({
      port: this.port,
      command: java,
      args: [
        `-Xmx${this.options.heap ?? '512m'}`,
        '-Xms256m',
        `-Dlog4j2.configurationFile=${this.writeLog4jConfig()}`,
        `-Dkafka.logs.dir=${path.join(this.dir, 'logs')}`,
        '-cp',
        classpath,
        'kafka.Kafka',
        config,
      ],
    });
    await this.waitReady();
  }

  async stop(): Promise<boolean> {
    return this.process.stop();
  }

  /** Ready when an admin client can list topics. */
  async waitReady(timeoutMs = 90_000): Promise<void> {
    await waitUntil(`Kafka on 127.0.0.1:${this.port}`, () => canListTopics(this.brokers, this.options.security?.client()), {
      timeoutMs,
      intervalMs: 500,
      describeFailure: () => {
        if (!this.process.isRunning()) return `the broker process exited; last log lines:\n${this.process.tail()}`;
        return `broker log: ${path.join(this.dir, 'logs', 'server.log')}`;
      },
    });
  }

  private writeConfig(): string {
    fs.mkdirSync(path.join(this.dir, 'data'), { recursive: true });
    const file = path.join(this.dir, 'server.properties');
    const { nodeId, quorumVoters, replicationFactor, minInsyncReplicas } = this.options.cluster ?? {
      nodeId: 1,
      quorumVoters: `1@127.0.0.1:${this.controllerPort}`,
      replicationFactor: 1,
      minInsyncReplicas: 1,
    };
    fs.writeFileSync(
      file,
      [
        'process.roles=broker,controller',
        `node.id=${nodeId}`,
        `controller.quorum.voters=${quorumVoters}`,
        'controller.listener.names=CONTROLLER',
        ...(this.options.security?.properties({ port: this.port, controllerPort: this.controllerPort }) ?? [
          `listeners=PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}`,
          `advertised.listeners=PLAINTEXT://127.0.0.1:${this.port}`,
          'inter.broker.listener.name=PLAINTEXT',
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        ]),
        `log.dirs=${path.join(this.dir, 'data')}`,
        'num.partitions=6',
        // Tidings creates its topics (sources, retry tiers, DLQs) with the cluster's default replication.
        `default.replication.factor=${replicationFactor}`,
        `min.insync.replicas=${minInsyncReplicas}`,
        `offsets.topic.replication.factor=${replicationFactor}`,
        'offsets.topic.num.partitions=10',
        `transaction.state.log.replication.factor=${replicationFactor}`,
        `transaction.state.log.min.isr=${minInsyncReplicas}`,
        'transaction.state.log.num.partitions=4',
        'group.initial.rebalance.delay.ms=0',
        // Topics are created explicitly (`tidings topics create`); a typo must not create one.
        'auto.create.topics.enable=false',
        'log.retention.hours=168',
        '',
      ].join('\n'),
      // A secure broker's file holds its keystore's and the inter-broker login's passwords.
      { mode: 0o600 },
    );
    return file;
  }

  private writeLog4jConfig(): string {
    const file = path.join(this.dir, 'log4j2.properties');
    fs.mkdirSync(path.join(this.dir, 'logs'), { recursive: true });
    fs.writeFileSync(
      file,
      [
        'status = warn',
        'appender.file.type = File',
        'appender.file.name = file',
        `appender.file.fileName = ${path.join(this.dir, 'logs', 'server.log')}`,
        'appender.file.layout.type = PatternLayout',
        'appender.file.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = INFO',
        'rootLogger.appenderRef.file.ref = file',
        'logger.kafka.name = kafka',
        'logger.kafka.level = INFO',
        'logger.state.name = state.change.logger',
        'logger.state.level = WARN',
        '',
      ].join('\n'),
    );
    return file;
  }
}

export async function canListTopics(brokers: string[], security?: KafkaSecurity): Promise<boolean> {
  return withProbeAdmin(brokers, security, false, async (admin) => {
    await admin.listTopics();
    return true;
  });
}

/** `ask`'s answer from a short-lived admin client that tries once and logs nothing; `otherwise` when anything fails. */
export async function withProbeAdmin<T>(brokers: string[], security: KafkaSecurity | undefined, otherwise: T, ask: (admin: Admin) => Promise<T>): Promise<T> {
  const kafka = new Kafka({
    clientId: 'tidings-probe',
    brokers,
    ...kafkaSecurityConfig(security),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await ask(admin);
  } catch {
    return otherwise;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
