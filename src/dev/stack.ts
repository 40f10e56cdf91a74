import net from 'node:net';
import path from 'node:path';
import { defaultDatabaseUrl, paymentRetentionMs, resolveEndpoints, type Endpoints, type Env, readEnv } from '../config/env';
import { ensureDatabase } from '../db/database';
import { ConfigError, StackError } from '../errors';
import { eventTopicSpecs, prefixedTopics } from '../kafka/topics';
import { BackgroundProcess, waitUntil } from './background-process';
import { KafkaCluster } from './kafka-cluster';
import { SECURE_KAFKA_USERS, SecureKafka, type SecureKafkaUser } from './kafka-security';
import { KafkaServer, KAFKA_VERSION, canListTopics } from './kafka-server';
import { PROJECT_ROOT, stackHome } from './paths';
import { POSTGRES_BINARIES_VERSION } from './postgres-binaries';
import { EmbeddedPostgres, isPostgresAnswering } from './postgres-server';
import { checkPrerequisites, type Requirements } from './prerequisites';
import { APICURIO_VERSION, RegistryServer, isRegistryUp } from './registry-server';

/**
 * `tidings dev up|down|status`: the local stack without Docker. Kafka, the registry, a
 * mail-catching SMTP server and, when no PostgreSQL answers and DATABASE_URL is not set, a
 * PostgreSQL server run as background processes under `.tidings/`. A component whose env
 * var is set (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, SMTP_URL, DATABASE_URL) is used as it is
 * and not started; one that already answers on its port is reused.
 */
export interface ComponentStatus {
  name: string;
  endpoint: string;
  managed: boolean;
  up: boolean;
  detail?: string;
}

export interface StackOptions {
  env?: Env;
  home?: string;
  progress?: (line: string) => void;
}

export interface UpOptions {
  /** Also the SASL_SSL broker with users and ACLs (src/dev/kafka-security.ts), beside the plain one. */
  secure?: boolean;
  /** More than 1: also a KRaft cluster of that many nodes (src/dev/kafka-cluster.ts), beside the plain broker. Default 1. */
  brokers?: number;
}

/** The notification group's default id (consumers/notification NOTIFICATION_GROUP): the secure broker's ACLs name it. */
export const DEV_NOTIFICATION_GROUP = 'tidings.notification';

/**
 * What `up` does with one component: `external` (its env var names it), `foreign` (something
 * of the right kind already answers on its port: reused), `own` (this stack's process is
 * running) or `start`.
 */
type Disposition = 'external' | 'foreign' | 'own' | 'start';

interface Plan {
  postgres: Disposition;
  kafka: Disposition;
  registry: Disposition;
  smtp: Disposition;
  /** `none`: not asked for (`dev up` without --secure). */
  secureKafka: 'none' | 'own' | 'start';
  /** `none`: not asked for (`dev up` without --brokers); `own`: every node runs. */
  cluster: 'none' | 'own' | 'start';
}

const SMTP_PORT = 1025;

export class LocalStack {
  readonly endpoints: Endpoints;
  readonly home: string;
  private readonly env: Env;
  private readonly kafka: KafkaServer;
  private readonly secureKafka: SecureKafka;
  private readonly registry: RegistryServer;
  private readonly postgres: EmbeddedPostgres;
  private readonly mail: BackgroundProcess;
  private readonly progress: (line: string) => void;

  constructor(options: StackOptions = {}) {
    this.env = options.env ?? readEnv();
    this.endpoints = resolveEndpoints(this.env);
    this.home = options.home ?? stackHome();
    this.progress = options.progress ?? (() => undefined);
    this.kafka = new KafkaServer({ home: this.home, port: this.env.TIDINGS_KAFKA_PORT });
    this.secureKafka = new SecureKafka({ home: this.home, port: this.env.TIDINGS_KAFKA_SECURE_PORT });
    this.registry = new RegistryServer({ home: this.home, port: this.env.TIDINGS_REGISTRY_PORT, databaseUrl: this.endpoints.databaseUrl });
    this.postgres = new EmbeddedPostgres({ home: this.home, port: this.env.TIDINGS_POSTGRES_PORT ?? 5432 });
    this.mail = new BackgroundProcess('smtp', path.join(this.home, 'run'));
  }

  private registryDatabaseUrl(): string {
    const url = new URL(this.endpoints.databaseUrl);
    url.pathname = '/tidings_registry';
    return url.toString();
  }

  get mailDir(): string {
    return path.join(this.home, 'mail');
  }

  /** TIDINGS_EMBEDDED_POSTGRES=1: this stack's own server even when another answers (these machines run one at 5432). */
  private get embeddedForced(): boolean {
    return this.env.TIDINGS_EMBEDDED_POSTGRES === true;
  }

  /** DATABASE_URL unset (or set to its default): the stack provides the server when none answers there. */
  private get databaseUrlIsDefault(): boolean {
    return this.env.DATABASE_URL === defaultDatabaseUrl(this.env.TIDINGS_POSTGRES_PORT);
  }

  /** Starts what is not running; resolves when every component answers. */
  async up(options: UpOptions = {}): Promise<ComponentStatus[]> {
    const plan = await this.plan(options);
    await checkPrerequisites(this.requirements(plan, options));
    await this.upPostgres(plan.postgres);
    // Downloads and unpacking run (synchronously) before anything talks to a server, so
    // they cannot starve a connection attempt of the event loop.
    if (plan.kafka === 'start' || plan.secureKafka === 'start' || plan.cluster === 'start') await this.step(`Kafka ${KAFKA_VERSION} jars`, async () => `${this.kafka.install().length} jars (Maven cache)`);
    if (plan.registry === 'start') await this.step(`Apicurio Registry ${APICURIO_VERSION} distribution`, async () => this.registry.install());
    // Kafka and the registry boot in parallel: together that is most of a cold start.
    await Promise.all([
      plan.kafka === 'external'
        ? this.step('Kafka (external)', () => this.expect(canListTopics(this.endpoints.kafkaBrokers, this.endpoints.kafkaSecurity), 'KAFKA_BROKERS'))
        : this.step(`Kafka ${KAFKA_VERSION}`, async () => {
            // Another checkout's stack may already serve this port: use it rather than clash.
            if (plan.kafka === 'foreign') return `${this.kafka.brokers.join(',')} (already running)`;
            await this.kafka.start();
            return this.kafka.brokers.join(',');
          }),
      plan.registry === 'external'
        ? this.step('Schema registry (external)', () => this.expect(isRegistryUp(this.endpoints.schemaRegistryUrl), 'SCHEMA_REGISTRY_URL'))
        : this.step(`Apicurio Registry ${APICURIO_VERSION}`, async () => {
            if (plan.registry === 'foreign') return `${this.registry.url} (already running)`;
            await this.registry.start();
            return this.registry.url;
          }),
    ]);
    if (plan.smtp !== 'external') {
      await this.step('SMTP mail catcher', async () => {
        if (plan.smtp === 'foreign') return `${this.endpoints.smtpUrl} (already running)`;
        this.mail.start({
          port: SMTP_PORT,
          command: process.execPath,
          args: [path.join(PROJECT_ROOT, 'bin', 'tidings.cjs'), 'dev', 'mail-catcher', '--port', String(SMTP_PORT), '--dir', this.mailDir],
        });
        await waitUntil(`SMTP on 127.0.0.1:${SMTP_PORT}`, () => smtpGreets(SMTP_PORT), {
          timeoutMs: 20_000,
          describeFailure: () => this.mail.tail(),
        });
        return `${this.endpoints.smtpUrl} (mail saved in ${this.mailDir})`;
      });
    }
    if (plan.secureKafka !== 'none') await this.step(`Kafka ${KAFKA_VERSION} SASL_SSL`, () => this.upSecureKafka());
    if (plan.cluster !== 'none') {
      const cluster = this.kafkaCluster(options.brokers);
      await this.step(`Kafka ${KAFKA_VERSION} cluster of ${cluster.size} nodes`, async () => {
        await cluster.start();
        return `${cluster.brokers.join(',')} (replication factor ${cluster.replicationFactor}, min.insync.replicas ${cluster.minInsyncReplicas})`;
      });
    }
    return this.status();
  }

  /** The cluster `up --brokers <n>` runs: `size` nodes, or as many as it was set up with. */
  private kafkaCluster(size?: number): KafkaCluster {
    return new KafkaCluster({ home: this.home, size, port: this.env.TIDINGS_KAFKA_CLUSTER_PORT });
  }

  /** The cluster's bootstrap list, when it has been set up (`dev up --brokers <n>`). */
  kafkaClusterBrokers(): string[] | undefined {
    const cluster = this.kafkaCluster();
    return cluster.isSetUp() ? cluster.brokers : undefined;
  }

  /**
   * Starts the secure broker (first time: certificates, passwords, storage with the users) and,
   * as its admin, creates the contract's topics and the ACLs (both idempotent, so every `up`
   * brings them in line), then writes each user's env file.
   */
  private async upSecureKafka(): Promise<string> {
    await this.secureKafka.start();
    const topics = prefixedTopics(this.env.TIDINGS_TOPIC_PREFIX);
    const { topicsCreated, aclsCreated } = await this.secureKafka.provision({ topics, notificationGroupId: DEV_NOTIFICATION_GROUP }, eventTopicSpecs(topics, 6, paymentRetentionMs(this.env)));
    this.secureKafka.writeEnvFiles();
    const created = topicsCreated.length > 0 ? `created ${topicsCreated.join(', ')}; ` : '';
    return `${this.secureKafka.brokers.join(',')} (SCRAM-SHA-512 over TLS; ${created}${aclsCreated} new ACLs)`;
  }

  /** The env file of each user of the secure broker, when it has been set up (`dev up --secure`). */
  secureKafkaCredentials(): Record<SecureKafkaUser, string> | undefined {
    return this.secureKafka.isSetUp() ? this.secureKafka.envFiles() : undefined;
  }

  /** Stops the components this stack started (never external ones). */
  async down(): Promise<string[]> {
    const stopped: string[] = [];
    const results = await Promise.all([this.mail.stop(), this.registry.stop(), this.kafka.stop(), this.secureKafka.stop(), this.kafkaCluster().stop()]);
    ['smtp', 'registry', 'kafka', 'kafka-secure', 'kafka-cluster'].forEach((name, i) => {
      if (results[i]) stopped.push(name);
    });
    // Last: the registry keeps its schemas in it.
    if (await this.postgres.stop()) stopped.push('postgres');
    return stopped;
  }

  async status(): Promise<ComponentStatus[]> {
    const secure = this.secureKafka.isSetUp();
    const cluster = this.kafkaCluster();
    const [kafkaUp, registryUp, smtpUp, pgUp, secureUp, clusterNodes] = await Promise.all([
      canListTopics(this.endpoints.kafkaBrokers, this.endpoints.kafkaSecurity),
      isRegistryUp(this.endpoints.schemaRegistryUrl).catch(() => false),
      smtpGreets(Number(new URL(this.endpoints.smtpUrl).port || 25), new URL(this.endpoints.smtpUrl).hostname).catch(() => false),
      ensureDatabase(this.endpoints.databaseUrl).then(() => true, () => false),
      secure ? canListTopics(this.secureKafka.brokers, this.secureKafka.security('admin')) : Promise.resolve(false),
      cluster.isSetUp() ? cluster.nodeStatus() : Promise.resolve([]),
    ]);
    const pgEmbedded = this.postgres.isRunning() || this.embeddedForced || (this.databaseUrlIsDefault && !pgUp);
    return [
      { name: 'kafka', endpoint: this.endpoints.kafkaBrokers.join(','), managed: !this.env.KAFKA_BROKERS, up: kafkaUp, detail: `Kafka ${KAFKA_VERSION}` },
      { name: 'registry', endpoint: this.endpoints.schemaRegistryUrl, managed: !this.env.SCHEMA_REGISTRY_URL, up: registryUp, detail: `Apicurio ${APICURIO_VERSION}` },
      { name: 'smtp', endpoint: this.endpoints.smtpUrl, managed: !this.env.SMTP_URL, up: smtpUp },
      {
        name: 'postgres',
        endpoint: redactUrl(this.endpoints.databaseUrl),
        managed: pgEmbedded,
        up: pgUp,
        ...(pgEmbedded && { detail: `PostgreSQL ${POSTGRES_BINARIES_VERSION} (embedded${pgUp ? '' : ', stopped'})` }),
      },
      ...(secure
        ? [{ name: 'kafka-secure', endpoint: this.secureKafka.brokers.join(','), managed: true, up: secureUp, detail: `Kafka ${KAFKA_VERSION} SASL_SSL, SCRAM-SHA-512, ACLs (users: ${SECURE_KAFKA_USERS.join(', ')})` }]
        : []),
      ...clusterNodes.map(({ node, up }, i) => ({
        name: `kafka-${node.proc.name}`,
        endpoint: node.brokers.join(','),
        managed: true,
        up,
        detail: `Kafka ${KAFKA_VERSION} cluster node ${i + 1} of ${cluster.size} (broker+controller, controller port ${node.controllerPort})`,
      })),
    ];
  }

  /** Which components answer already, so only the others are checked for, downloaded and started. */
  private async plan(options: UpOptions): Promise<Plan> {
    const secureKafka = !options.secure ? 'none' : ownRunning(this.secureKafka.server.proc, this.secureKafka.server.port, 'TIDINGS_KAFKA_SECURE_PORT') ? 'own' : 'start';
    const nodes = (options.brokers ?? 1) > 1 ? this.kafkaCluster(options.brokers).nodes : [];
    const cluster = nodes.length === 0 ? 'none' : nodes.every((node) => ownRunning(node.proc, node.port, 'TIDINGS_KAFKA_CLUSTER_PORT')) ? 'own' : 'start';
    const [postgres, kafka, registry, smtp] = await Promise.all([
      this.postgresDisposition(),
      disposition(!!this.env.KAFKA_BROKERS, () => ownRunning(this.kafka.proc, this.kafka.port, 'TIDINGS_KAFKA_PORT'), () => canListTopics(this.kafka.brokers)),
      disposition(!!this.env.SCHEMA_REGISTRY_URL, () => ownRunning(this.registry.process, this.registry.port, 'TIDINGS_REGISTRY_PORT'), () => isRegistryUp(this.registry.url)),
      disposition(!!this.env.SMTP_URL, () => ownRunning(this.mail, SMTP_PORT, 'the SMTP port'), () => smtpGreets(SMTP_PORT)),
    ]);
    return { postgres, kafka, registry, smtp, secureKafka, cluster };
  }

  private async postgresDisposition(): Promise<Disposition> {
    const running = (): boolean => ownRunning(this.postgres.process, this.postgres.port, 'TIDINGS_POSTGRES_PORT');
    if (this.embeddedForced) {
      if (!this.databaseUrlIsDefault && !pointsAt(this.env.DATABASE_URL, this.postgres.port)) {
        throw new ConfigError(
          `TIDINGS_EMBEDDED_POSTGRES=1 runs PostgreSQL on 127.0.0.1:${this.postgres.port} (TIDINGS_POSTGRES_PORT), but DATABASE_URL points at ` +
            `${new URL(this.env.DATABASE_URL).host}: point DATABASE_URL at the embedded server, or unset one of the two`,
        );
      }
      return running() ? 'own' : 'start';
    }
    // A server already answering (or the one DATABASE_URL names) wins over the embedded one.
    return disposition(!this.databaseUrlIsDefault, running, () => isPostgresAnswering(this.endpoints.databaseUrl));
  }

  private requirements(plan: Plan, options: UpOptions): Requirements {
    const requirements: Requirements = { java: [], downloads: [], ports: [] };
    if (plan.postgres === 'start') {
      if (!this.postgres.isInstalled()) requirements.downloads.push(`PostgreSQL ${POSTGRES_BINARIES_VERSION}`);
      requirements.ports.push({
        port: this.postgres.port,
        expected: this.embeddedForced ? "this stack's PostgreSQL" : 'a PostgreSQL server',
        fix: this.embeddedForced
          ? 'set TIDINGS_POSTGRES_PORT to a free port, or unset TIDINGS_EMBEDDED_POSTGRES to use the server there'
          : 'stop it, set TIDINGS_POSTGRES_PORT to a free port, or set DATABASE_URL to a PostgreSQL server of yours',
      });
    }
    if (plan.kafka === 'start') {
      requirements.java.push({ component: `Kafka ${KAFKA_VERSION}`, minMajor: 17 });
      if (!this.kafka.isInstalled()) requirements.downloads.push(`Kafka ${KAFKA_VERSION}`);
      const fix = 'stop it, set TIDINGS_KAFKA_PORT to a free port (the controller uses the next one), or set KAFKA_BROKERS to a broker of yours';
      requirements.ports.push({ port: this.kafka.port, expected: 'a Kafka broker', fix }, { port: this.kafka.controllerPort, expected: "the Kafka broker's controller listener", fix });
    }
    if (plan.secureKafka === 'start') {
      requirements.java.push({ component: `Kafka ${KAFKA_VERSION} (SASL_SSL)`, minMajor: 17 });
      if (!this.kafka.isInstalled() && plan.kafka !== 'start') requirements.downloads.push(`Kafka ${KAFKA_VERSION}`);
      const fix = 'stop it, or set TIDINGS_KAFKA_SECURE_PORT to a free port (the controller uses the next one)';
      requirements.ports.push(
        { port: this.secureKafka.server.port, expected: "the secure Kafka broker's SASL_SSL listener", fix },
        { port: this.secureKafka.server.controllerPort, expected: "the secure Kafka broker's controller listener", fix },
      );
    }
    if (plan.cluster === 'start') {
      requirements.java.push({ component: `Kafka ${KAFKA_VERSION} cluster`, minMajor: 17 });
      if (!this.kafka.isInstalled() && plan.kafka !== 'start' && plan.secureKafka !== 'start') requirements.downloads.push(`Kafka ${KAFKA_VERSION}`);
      const cluster = this.kafkaCluster(options.brokers);
      const fix = `stop it, or set TIDINGS_KAFKA_CLUSTER_PORT to the first of ${2 * cluster.size} free ports (clients, then controllers)`;
      requirements.ports.push(
        ...cluster.nodes
          .filter((node) => !node.proc.isRunning())
          .flatMap((node) => [
            { port: node.port, expected: `Kafka cluster ${node.proc.name}`, fix },
            { port: node.controllerPort, expected: `Kafka cluster ${node.proc.name}'s controller listener`, fix },
          ]),
      );
    }
    if (plan.registry === 'start') {
      // Apicurio 3.3 is compiled for Java 21.
      requirements.java.push({ component: `Apicurio Registry ${APICURIO_VERSION}`, minMajor: 21 });
      if (!this.registry.isInstalled()) requirements.downloads.push(`Apicurio Registry ${APICURIO_VERSION}`);
      const fix = 'stop it, set TIDINGS_REGISTRY_PORT to a free port (its management port is 10 above), or set SCHEMA_REGISTRY_URL to a registry of yours';
      requirements.ports.push({ port: this.registry.port, expected: 'a schema registry', fix }, { port: this.registry.managementPort, expected: "the schema registry's management port", fix });
    }
    if (plan.smtp === 'start') requirements.ports.push({ port: SMTP_PORT, expected: 'an SMTP server', fix: 'stop it, or set SMTP_URL to an SMTP server of yours' });
    return requirements;
  }

  private async upPostgres(plan: Disposition): Promise<void> {
    if (plan === 'external' || plan === 'foreign') {
      await this.step('PostgreSQL', async () => (await this.ensureDatabases()) ?? (plan === 'foreign' ? 'reachable (already running)' : 'reachable'));
      return;
    }
    await this.step(`PostgreSQL ${POSTGRES_BINARIES_VERSION} (embedded)`, async () => {
      const why = this.embeddedForced ? 'TIDINGS_EMBEDDED_POSTGRES=1' : `no PostgreSQL answered at 127.0.0.1:${this.postgres.port} and DATABASE_URL is not set`;
      const detail = await this.postgres.start();
      const created = await this.ensureDatabases();
      return [plan === 'start' ? `started (${why})` : 'running', detail, created].filter(Boolean).join('; ');
    });
  }

  /** Creates Tidings' database (and the registry's) if missing; says so when it did. */
  private async ensureDatabases(): Promise<string | undefined> {
    const created = await ensureDatabase(this.endpoints.databaseUrl);
    if (!this.env.SCHEMA_REGISTRY_URL) await ensureDatabase(this.registryDatabaseUrl());
    return created ? `created database ${new URL(this.endpoints.databaseUrl).pathname.slice(1)}` : undefined;
  }

  private async step(name: string, work: () => Promise<string>): Promise<void> {
    const started = Date.now();
    this.progress(`… ${name}`);
    try {
      const detail = await work();
      this.progress(`✓ ${name}: ${detail} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      this.progress(`✗ ${name}`);
      throw error;
    }
  }

  private async expect(probe: Promise<boolean>, variable: string): Promise<string> {
    if (!(await probe.catch(() => false))) throw new StackError(`${variable} is set but nothing answers there`);
    return 'reachable';
  }
}

async function disposition(external: boolean, ownRunning: () => boolean, answers: () => Promise<boolean>): Promise<Disposition> {
  if (external) return 'external';
  if (ownRunning()) return 'own';
  return (await answers().catch(() => false)) ? 'foreign' : 'start';
}

/** True when this stack's own process runs; a clear error when it listens on another port than the settings now say. */
function ownRunning(process: BackgroundProcess, port: number, setting: string): boolean {
  if (!process.isRunning()) return false;
  const recorded = process.port();
  if (recorded !== undefined && recorded !== port) {
    throw new StackError(`this stack's ${process.name} runs on port ${recorded}, but ${setting} now says ${port}: run \`tidings dev down\` with the earlier settings first, or go back to them`);
  }
  return true;
}

/** True when a postgres:// URL names this machine's loopback at `port`. */
function pointsAt(url: string, port: number): boolean {
  const parsed = new URL(url);
  return ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname) && Number(parsed.port || 5432) === port;
}

/** True when an SMTP server answers with its 220 greeting. */
export function smtpGreets(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('220')));
    socket.once('error', () => done(false));
  });
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
