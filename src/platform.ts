import type { Kafka } from 'kafkajs';
import { readEnv, resolveEndpoints, type Endpoints } from './config/env';
import { createDb, type Db } from './db/database';
import { createKafka } from './kafka/client';
import { createLogger, type Logger } from './observability/logger';
import { prefixedTopics, type TopicNames } from './kafka/topics';
import { Outbox, type OutboxOptions } from './outbox/outbox';
import { Publisher, type PublisherOptions } from './producer/publisher';
import { EventRegistry } from './registry/event-registry';
import { DataKeyStore } from './crypto/data-key-store';
import { LocalKeyManagement, type KeyManagementService } from './crypto/key-management';

export interface PlatformOptions {
  endpoints?: Endpoints;
  topics?: TopicNames;
  clientId?: string;
  /** Register schemas on first publish. Default false: `tidings schemas register` does it. */
  autoRegisterSchemas?: boolean;
  /** The process's logger; components built from this platform log through its children. Default: pino JSON at LOG_LEVEL. */
  logger?: Logger;
  /**
   * Wraps users' data keys (personal fields are sealed per user). Default: the local key
   * from TIDINGS_MASTER_KEY when it is set; `null` turns sealing off whatever the environment says.
   */
  keyManagement?: KeyManagementService | null;
}

/**
 * The shared connections of one Tidings process: Kafka, the schema registry and PostgreSQL,
 * built once from the environment. Producers, consumer groups and the CLI all start here.
 */
export class Platform {
  readonly endpoints: Endpoints;
  readonly topics: TopicNames;
  readonly kafka: Kafka;
  readonly registry: EventRegistry;
  readonly logger: Logger;
  private database: Db | undefined;
  private readonly keyManagement: KeyManagementService | undefined;
  private keyStore: DataKeyStore | undefined;

  constructor(options: PlatformOptions = {}) {
    this.endpoints = options.endpoints ?? resolveEndpoints();
    this.topics = options.topics ?? prefixedTopics(this.endpoints.topicPrefix);
    this.logger = options.logger ?? createLogger('tidings');
    this.kafka = createKafka({
      brokers: this.endpoints.kafkaBrokers,
      clientId: options.clientId ?? 'tidings',
      logger: this.logger.child({ component: 'kafkajs' }),
      security: this.endpoints.kafkaSecurity,
    });
    this.registry = new EventRegistry({
      url: this.endpoints.schemaRegistryUrl,
      autoRegister: options.autoRegisterSchemas ?? false,
      credentials: this.endpoints.schemaRegistryCredentials,
      caFile: this.endpoints.schemaRegistryCaFile,
    });
    this.keyManagement = options.keyManagement === undefined ? keyManagementFromEnv() : (options.keyManagement ?? undefined);
  }

  /** Users' data keys (in this platform's database), or undefined when personal fields are not sealed (no key-encryption key). */
  get dataKeys(): DataKeyStore | undefined {
    if (!this.keyManagement) return undefined;
    this.keyStore ??= new DataKeyStore({ db: this.db, kms: this.keyManagement });
    return this.keyStore;
  }

  /** PostgreSQL, connected on first use; its search_path is `endpoints.databaseSchema`. */
  get db(): Db {
    this.database ??= createDb(this.endpoints.databaseUrl, { schema: this.endpoints.databaseSchema });
    return this.database;
  }

  createPublisher(options: Omit<PublisherOptions, 'kafka' | 'registry' | 'topics'> = {}): Publisher {
    return new Publisher({ dataKeys: this.dataKeys, ...options, kafka: this.kafka, registry: this.registry, topics: this.topics });
  }

  /** The transactional outbox for this platform's topics and schema; run the outbox relay to publish it. */
  createOutbox(options: Omit<OutboxOptions, 'topics' | 'schema'> = {}): Outbox {
    return new Outbox({ dataKeys: this.dataKeys, ...options, topics: this.topics, schema: this.endpoints.databaseSchema });
  }

  async close(): Promise<void> {
    await this.database?.destroy();
    this.database = undefined;
    this.keyStore = undefined;
  }
}

function keyManagementFromEnv(): KeyManagementService | undefined {
  const key = readEnv().TIDINGS_MASTER_KEY;
  return key === undefined ? undefined : LocalKeyManagement.fromSetting(key);
}
