import { Kafka, logLevel, type Admin, type AdminConfig, type Consumer, type ConsumerConfig, type KafkaConfig, type LogEntry, type logCreator, type Producer, type ProducerConfig } from 'kafkajs';
import { readPemFile } from '../config/pem-file';
import { createLogger, type Logger } from '../observability/logger';
import { typedSecurityFailure, type ClientIdentity } from './broker-errors';

export type SaslMechanism = 'scram-sha-512' | 'scram-sha-256' | 'plain';

/**
 * How a client proves who it is to the brokers and protects the connection (env KAFKA_SASL_*,
 * KAFKA_SSL*). Files are PEM, read when the client is created.
 */
export interface KafkaSecurity {
  /** SASL login; the broker's ACLs then apply to `User:<username>`. */
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  /**
   * TLS to the brokers. `caFile`: the CA(s) their certificates must chain to (default: Node's
   * bundled CAs); `certFile` and `keyFile`: a client certificate for mutual TLS.
   */
  ssl?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId?: string;
  /** Where kafkajs' own log lines go. Default: a logger named `kafkajs`. */
  logger?: Logger;
  /** SASL and TLS. Default: none (plaintext, no login), as the local stack's plain broker is. */
  security?: KafkaSecurity;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * What a fresh or busy broker answers while it settles (leader elections, a coordinator
 * loading its group state, a rebalance, a topic created a moment ago that not every broker
 * serves yet). kafkajs retries all of it itself; shown at the default level it buries a
 * newcomer's first `npm start` in warnings about nothing. If the retries run out, the crash
 * or the failed publish is still logged (a missing topic: the publish error says so).
 */
const TRANSIENT =
  /no leader for this topic-partition|not the leader for (?:that|this) topic-partition|does not host this topic-partition|leader(?:ship)? election|coordinator is loading|coordinator is not available|not the correct coordinator|group is rebalancing|leader epoch in the request is/i;

/** The level a kafkajs log entry is written at. */
function kafkaLogLevel(level: logLevel, message: string, error: unknown): 'error' | 'warn' | 'info' | 'debug' {
  // Publishes are bounded on purpose (a caller needs an answer; the outbox is the path that
  // never gives up), so kafkajs' notice about limited idempotent retries is expected.
  // Tidings' own producers pick the Java-compatible partitioner explicitly.
  if (message.startsWith('Limiting retries for the idempotent producer') || message.startsWith('KafkaJS v2.0.0 switched default partitioner')) return 'debug';
  // A crash or a restart is news even when its cause was transient: the retries ran out.
  const final = message.startsWith('Crash') || message.startsWith('Restarting');
  if (!final && TRANSIENT.test(`${message} ${typeof error === 'string' ? error : ''}`)) return 'debug';
  // kafkajs logs every protocol error answer at ERROR, although it retries them itself
  // (rebalances, leader moves, coordinator loading); they are warnings to an operator.
  if (level === logLevel.ERROR && message.startsWith('Response ')) return 'warn';
  return LEVELS[level] ?? 'info';
}

/** Routes kafkajs' own logging into the structured logger. */
function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...rest } = log;
    logger[kafkaLogLevel(level, message, rest.error)](rest, message);
  };
}

/** kafkajs' `ssl` and `sasl` settings for `security`; a PEM file that cannot be read is a ConfigError naming its setting. */
export function kafkaSecurityConfig(security: KafkaSecurity | undefined): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const config: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  const ssl = security?.ssl;
  if (ssl) {
    config.ssl = {
      ...(ssl.caFile !== undefined && { ca: [readPemFile(ssl.caFile, 'KAFKA_SSL_CA_FILE')] }),
      ...(ssl.certFile !== undefined && { cert: readPemFile(ssl.certFile, 'KAFKA_SSL_CERT_FILE') }),
      ...(ssl.keyFile !== undefined && { key: readPemFile(ssl.keyFile, 'KAFKA_SSL_KEY_FILE') }),
    };
  }
  if (security?.sasl) {
    const { mechanism, username, password } = security.sasl;
    // Spelled out per mechanism: kafkajs' type is a union over each.
    if (mechanism === 'plain') config.sasl = { mechanism, username, password };
    else if (mechanism === 'scram-sha-256') config.sasl = { mechanism, username, password };
    else config.sasl = { mechanism, username, password };
  }
  return config;
}

export function createKafka(options: KafkaConnectionOptions): Kafka {
  return new TypedErrorsKafka(
    {
      clientId: options.clientId ?? 'tidings',
      brokers: options.brokers,
      ...kafkaSecurityConfig(options.security),
      // kafkajs logs every retriable protocol error at ERROR; WARN keeps real problems visible.
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(options.logger ?? createLogger('kafkajs')),
      retry: { initialRetryTime: 100, retries: 8 },
    },
    identityOf(options),
  );
}

/** Who the brokers see this client as, for error messages. */
function identityOf(options: KafkaConnectionOptions): ClientIdentity {
  const { sasl, ssl } = options.security ?? {};
  const principal = sasl ? `User:${sasl.username}` : ssl?.certFile ? 'the subject of the client certificate (KAFKA_SSL_CERT_FILE)' : 'User:ANONYMOUS';
  return { brokers: options.brokers, principal, sasl: sasl && { mechanism: sasl.mechanism, username: sasl.username } };
}

/**
 * A Kafka whose clients report a refused login (at connect, which is at start-up for every
 * worker, publisher and command) and a write the ACLs refuse as typed errors naming the setting
 * or the topic and principal (src/kafka/broker-errors.ts), instead of kafkajs' generic ones.
 * Every other failure passes through unchanged.
 */
class TypedErrorsKafka extends Kafka {
  constructor(
    config: KafkaConfig,
    private readonly identity: ClientIdentity,
  ) {
    super(config);
  }

  override producer(config?: ProducerConfig): Producer {
    const producer = super.producer(config);
    this.translateConnect(producer);
    const { send, sendBatch } = producer;
    producer.send = (record) => send(record).catch((error: unknown) => Promise.reject(typedSecurityFailure(error, this.identity, [record.topic])));
    producer.sendBatch = (batch) =>
      sendBatch(batch).catch((error: unknown) => Promise.reject(typedSecurityFailure(error, this.identity, (batch.topicMessages ?? []).map((t) => t.topic))));
    return producer;
  }

  override consumer(config: ConsumerConfig): Consumer {
    return this.translateConnect(super.consumer(config));
  }

  override admin(config?: AdminConfig): Admin {
    return this.translateConnect(super.admin(config));
  }

  private translateConnect<C extends { connect(): Promise<void> }>(client: C): C {
    const connect = client.connect;
    client.connect = () => connect().catch((error: unknown) => Promise.reject(typedSecurityFailure(error, this.identity)));
    return client;
  }
}
