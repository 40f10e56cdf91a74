import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type AclEntry, type Admin } from 'kafkajs';
import { dlqTopic } from '../consumer/retry-topology';
import { StackError } from '../errors';
import { createKafka, type KafkaSecurity } from '../kafka/client';
import { ensureTopics, type TopicNames, type TopicSpec } from '../kafka/topics';
import { createLogger } from '../observability/logger';
import { KafkaServer, type BrokerSecurity } from './kafka-server';
import { ensureLocalCertificates, type LocalCertificates } from './local-certificates';

/**
 * The broker `tidings dev up --secure` runs beside the plain one: its own ports (default 9094,
 * controller 9095) and folder (`.tidings/kafka-secure/`), one SASL_SSL listener (SCRAM-SHA-512
 * over TLS, certificates from a local CA), and the StandardAuthorizer with nothing allowed but
 * what the ACLs below grant. Its users are created with its storage (`--add-scram`); their
 * passwords are generated once and kept, with the CA's PEM and one env file per user, in its
 * folder. The controller listener is TLS with client certificates, so the broker itself is the
 * only other super user (by its certificate's subject).
 */
export const SECURE_KAFKA_USERS = ['admin', 'auth-producer', 'payment-producer', 'notification'] as const;
export type SecureKafkaUser = (typeof SECURE_KAFKA_USERS)[number];

/** The super user: creates topics and ACLs, and is the inter-broker login. */
const ADMIN: SecureKafkaUser = 'admin';
export const SECURE_KAFKA_DEFAULT_PORT = 9094;
const MECHANISM = 'scram-sha-512';
const BROKER_CERTIFICATE = 'tidings-broker';

/** What the ACLs are about: the contract's topics (with their prefix) and the notification group. */
export interface AclScope {
  topics: TopicNames;
  /** The notification group's id (`tidings.notification`, or `tidings run --group-id`); its retry group is `<id>.retry`. */
  notificationGroupId: string;
}

/**
 * Each user's grants, least privilege: each producer may write its own topic only; the
 * notification group may read its source topics and its own retry tiers, write only those tiers
 * and its DLQs (and create them and keep their retention in line, as a worker does at start),
 * and use its consumer groups. The topic names follow src/consumer/retry-topology.ts
 * (`<source>.notification.retry.<n>`, `<source>.notification.dlq`). READ and WRITE imply DESCRIBE.
 */
export function aclsFor(scope: AclScope): AclEntry[] {
  const { TOPIC, GROUP } = AclResourceTypes;
  const { LITERAL, PREFIXED } = ResourcePatternTypes;
  const { READ, WRITE, CREATE, DESCRIBE_CONFIGS, ALTER_CONFIGS } = AclOperationTypes;
  const allow = (user: SecureKafkaUser, resourceType: AclResourceTypes, resourcePatternType: ResourcePatternTypes, resourceName: string, operations: AclOperationTypes[]): AclEntry[] =>
    operations.map((operation) => ({ principal: `User:${user}`, host: '*', resourceType, resourceName, resourcePatternType, operation, permissionType: AclPermissionTypes.ALLOW }));
  const sources = [scope.topics.auth, scope.topics.payment];
  const notification = { name: 'notification', sources, delaysMs: [] };
  return [
    ...allow('auth-producer', TOPIC, LITERAL, scope.topics.auth, [WRITE]),
    ...allow('payment-producer', TOPIC, LITERAL, scope.topics.payment, [WRITE]),
    ...sources.flatMap((source) => [
      ...allow('notification', TOPIC, LITERAL, source, [READ, DESCRIBE_CONFIGS]),
      ...allow('notification', TOPIC, PREFIXED, `${source}.${notification.name}.retry.`, [READ, WRITE, CREATE, DESCRIBE_CONFIGS, ALTER_CONFIGS]),
      ...allow('notification', TOPIC, LITERAL, dlqTopic(notification, source), [WRITE, CREATE, DESCRIBE_CONFIGS, ALTER_CONFIGS]),
    ]),
    // Prefixed: the group and its retry group (`<id>.retry`).
    ...allow('notification', GROUP, PREFIXED, scope.notificationGroupId, [READ]),
  ];
}

/** Creates the ACLs of `wanted` that the broker does not have yet; returns how many it created. */
export async function ensureAcls(admin: Admin, wanted: AclEntry[]): Promise<number> {
  const { resources } = await admin.describeAcls({
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.ANY,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  });
  const key = (a: AclEntry): string => [a.resourceType, a.resourcePatternType, a.resourceName, a.principal, a.host, a.operation, a.permissionType].join('\u0000');
  const existing = new Set(resources.flatMap((r) => r.acls.map((acl) => key({ ...r, ...acl }))));
  const missing = wanted.filter((a) => !existing.has(key(a)));
  if (missing.length > 0) await admin.createAcls({ acl: missing });
  return missing.length;
}

export interface SecureKafkaOptions {
  /** The stack's home; the broker lives in `<home>/kafka-secure/`. */
  home: string;
  /** Default 9094 (TIDINGS_KAFKA_SECURE_PORT). */
  port?: number;
  /** Default: the next port. */
  controllerPort?: number;
  /** Where the Kafka jars' classpath is cached. Default `home`. */
  cacheHome?: string;
}

interface Material {
  certificates: LocalCertificates;
  passwords: Record<SecureKafkaUser, string>;
}

export class SecureKafka {
  readonly server: KafkaServer;
  /** Everything of this broker: data, logs, certificates, credentials and env files. */
  readonly dir: string;
  private cached: Material | undefined;

  constructor(options: SecureKafkaOptions) {
    this.dir = path.join(options.home, 'kafka-secure');
    this.server = new KafkaServer({
      home: options.home,
      name: 'kafka-secure',
      port: options.port ?? SECURE_KAFKA_DEFAULT_PORT,
      controllerPort: options.controllerPort,
      cacheHome: options.cacheHome,
      security: this.brokerSecurity(),
    });
  }

  get brokers(): string[] {
    return this.server.brokers;
  }

  /** Whether this broker was set up here (its credentials exist), running or not. */
  isSetUp(): boolean {
    return fs.existsSync(this.credentialsFile);
  }

  /** Generates the certificates and passwords on first use, then starts the broker (its users are created with its storage). */
  async start(): Promise<void> {
    this.material();
    await this.server.start();
  }

  async stop(): Promise<boolean> {
    return this.server.stop();
  }

  /** What a client acting as `user` sets: SASL/SCRAM-SHA-512 over TLS, trusting the local CA. */
  security(user: SecureKafkaUser): KafkaSecurity {
    return { sasl: { mechanism: MECHANISM, username: user, password: this.material().passwords[user] }, ssl: { caFile: this.material().certificates.caFile } };
  }

  /** The environment of a process acting as `user` (what `dev up --secure` writes to its env file). */
  env(user: SecureKafkaUser): Record<string, string> {
    return {
      KAFKA_BROKERS: this.brokers.join(','),
      KAFKA_SASL_MECHANISM: MECHANISM,
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD: this.material().passwords[user],
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: this.material().certificates.caFile,
    };
  }

  /** The env file of each user (written by `writeEnvFiles`). */
  envFiles(): Record<SecureKafkaUser, string> {
    return Object.fromEntries(SECURE_KAFKA_USERS.map((user) => [user, path.join(this.dir, 'env', `${user}.env`)])) as Record<SecureKafkaUser, string>;
  }

  /** Writes one env file per user, readable by the owner only. */
  writeEnvFiles(): void {
    fs.mkdirSync(path.join(this.dir, 'env'), { recursive: true, mode: 0o700 });
    for (const [user, file] of Object.entries(this.envFiles()) as Array<[SecureKafkaUser, string]>) {
      const lines = Object.entries(this.env(user)).map(([name, value]) => `${name}=${value}`);
      fs.writeFileSync(file, `# Tidings' local SASL_SSL broker, as ${user}: set -a; . ${file}; set +a\n${lines.join('\n')}\n`, { mode: 0o600 });
    }
  }

  /** As the admin: creates `topics` that are missing and the ACLs of `scope` (both idempotent). */
  async provision(scope: AclScope, topics: TopicSpec[]): Promise<{ topicsCreated: string[]; aclsCreated: number }> {
    const kafka = createKafka({ brokers: this.brokers, clientId: 'tidings-dev-secure', security: this.security(ADMIN), logger: createLogger('kafkajs') });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topicsCreated = await ensureTopics(admin, topics);
      const aclsCreated = await ensureAcls(admin, aclsFor(scope));
      return { topicsCreated, aclsCreated };
    } finally {
      await admin.disconnect();
    }
  }

  private get credentialsFile(): string {
    return path.join(this.dir, 'credentials.json');
  }

  /** Certificates and passwords: generated once, then read back (the users exist in the broker's storage with these passwords). */
  private material(): Material {
    if (this.cached) return this.cached;
    const certificates = ensureLocalCertificates(path.join(this.dir, 'tls'), BROKER_CERTIFICATE);
    let passwords: Partial<Record<SecureKafkaUser, string>>;
    if (fs.existsSync(this.credentialsFile)) {
      passwords = JSON.parse(fs.readFileSync(this.credentialsFile, 'utf8')) as Partial<Record<SecureKafkaUser, string>>;
    } else {
      if (fs.existsSync(path.join(this.dir, 'data', 'meta.properties'))) {
        throw new StackError(`the secure broker's storage in ${this.dir} has users whose passwords are lost (no credentials.json): stop it and delete ${this.dir} to set it up again`);
      }
      passwords = Object.fromEntries(SECURE_KAFKA_USERS.map((user) => [user, randomBytes(24).toString('hex')]));
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(this.credentialsFile, JSON.stringify(passwords, null, 2), { mode: 0o600 });
    }
    const missing = SECURE_KAFKA_USERS.filter((user) => typeof passwords[user] !== 'string');
    if (missing.length > 0) throw new StackError(`${this.credentialsFile} has no password for ${missing.join(', ')}: delete ${this.dir} to set the secure broker up again`);
    this.cached = { certificates, passwords: passwords as Record<SecureKafkaUser, string> };
    return this.cached;
  }

  private brokerSecurity(): BrokerSecurity {
    return {
      properties: ({ port, controllerPort }) => {
        const { certificates, passwords } = this.material();
        return [
          `listeners=SASL_SSL://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
          `advertised.listeners=SASL_SSL://127.0.0.1:${port}`,
          'listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL',
          'inter.broker.listener.name=SASL_SSL',
          'sasl.enabled.mechanisms=SCRAM-SHA-512',
          'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
          `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${ADMIN}" password="${passwords[ADMIN]}";`,
          'ssl.keystore.type=PKCS12',
          `ssl.keystore.location=${certificates.keystoreFile}`,
          `ssl.keystore.password=${certificates.keystorePassword}`,
          `ssl.key.password=${certificates.keystorePassword}`,
          'ssl.truststore.type=PEM',
          `ssl.truststore.location=${certificates.caFile}`,
          // The controller channel: only a client with a certificate of the local CA (the broker itself).
          'listener.name.controller.ssl.client.auth=required',
          'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
          `super.users=User:${ADMIN};User:${certificates.subject}`,
          'allow.everyone.if.no.acl.found=false',
        ];
      },
      formatArgs: () => SECURE_KAFKA_USERS.flatMap((user) => ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${this.material().passwords[user]}]`]),
      client: () => this.security(ADMIN),
    };
  }
}
