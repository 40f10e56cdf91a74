import fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { DEFAULT_DB_SCHEMA, dbSchemaName } from '../db/schema-name';
import { parseDuration } from './duration';
import { DEFAULT_PAYMENT_RETENTION_MS } from '../kafka/topics';
import { parseKeySetting } from '../crypto/key-management';
import type { KafkaSecurity } from '../kafka/client';
import type { RegistryCredentials } from '../registry/registry-http';

/**
 * The one place environment variables are read. Each is validated at start-up and a bad
 * value is reported by name, so a typo never surfaces later as a confusing connection error.
 */
const hostPort = /^[^\s:,]+:\d{1,5}$/;
const localPort = z.coerce.number().int().min(1, { message: 'must be a port number' }).max(65535, { message: 'must be a port number' });
const duration = z
  .string()
  .refine((v) => parsesAsDuration(v), { message: 'must be a duration such as 30d, 12h, 10m, 30s or 500ms' })
  .optional();

function isKeySetting(value: string): boolean {
  try {
    return parseKeySetting(value, 'key').length === 32;
  } catch {
    return false;
  }
}

function parsesAsDuration(value: string): boolean {
  try {
    return parseDuration(value, 'duration') > 0;
  } catch {
    return false;
  }
}

const schema = z.object({
  KAFKA_BROKERS: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.split(',').every((b) => hostPort.test(b.trim())), {
      message: 'must be a comma-separated list of host:port',
    }),
  SCHEMA_REGISTRY_URL: z.url({ message: 'must be an http(s) URL' }).optional(),
  // Security of the connections to Kafka and the registry (README "Kafka and registry
  // security"). Each is off until set; combinations are checked by connectionSecurityIssues.
  /** SASL login to the brokers; needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD. `plain` only over TLS. */
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-512', 'scram-sha-256', 'plain'], { message: 'must be scram-sha-512, scram-sha-256 or plain' }).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  /** TLS to the brokers. Default: on when a KAFKA_SSL_*_FILE is set, else off. */
  KAFKA_SSL: z.stringbool().optional(),
  /** PEM file of the CA(s) the brokers' certificates must chain to. Default: Node's bundled CAs. */
  KAFKA_SSL_CA_FILE: z.string().refine(isReadableFile, { message: 'must be a readable PEM file' }).optional(),
  /** Mutual TLS: the client's PEM certificate and its (unencrypted) PEM private key, both or neither. */
  KAFKA_SSL_CERT_FILE: z.string().refine(isReadableFile, { message: 'must be a readable PEM file' }).optional(),
  KAFKA_SSL_KEY_FILE: z.string().refine(isReadableFile, { message: 'must be a readable PEM file' }).optional(),
  /** Basic auth to the registry (both or neither), or a bearer token instead. Sent only over https://. */
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  SCHEMA_REGISTRY_TOKEN: z.string().optional(),
  /** PEM file of the CA(s) an https:// registry's certificate must chain to. Default: Node's bundled CAs. */
  SCHEMA_REGISTRY_CA_FILE: z.string().refine(isReadableFile, { message: 'must be a readable PEM file' }).optional(),
  /** Port of the SASL_SSL broker `tidings dev up --secure` runs beside the plain one (controller on the next port). Default 9094. */
  TIDINGS_KAFKA_SECURE_PORT: localPort.optional(),
  /** First client port of the cluster `tidings dev up --brokers <n>` runs (src/dev/kafka-cluster.ts). Default 9192. */
  TIDINGS_KAFKA_CLUSTER_PORT: localPort.optional(),
  /** Default: the local stack's server, postgres://postgres@127.0.0.1:<TIDINGS_POSTGRES_PORT or 5432>/tidings. */
  DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'must be a postgres:// URL' })
    .optional(),
  /** PostgreSQL schema of Tidings' tables, apart from a service's own; `tidings migrate` creates it. Default `tidings`. */
  TIDINGS_DB_SCHEMA: dbSchemaName.default(DEFAULT_DB_SCHEMA),
  SMTP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\//.test(v), { message: 'must be an smtp:// or smtps:// URL' })
    .optional(),
  MAIL_FROM: z.string().default('Tidings <no-reply@tidings.local>'),
  TIDINGS_HOME: z.string().optional(),
  // Ports of the servers `tidings dev up` starts (and so of the default endpoints).
  TIDINGS_KAFKA_PORT: localPort.optional(),
  TIDINGS_REGISTRY_PORT: localPort.optional(),
  TIDINGS_POSTGRES_PORT: localPort.optional(),
  /** `dev up` runs its own PostgreSQL even when another one answers at the default URL. */
  TIDINGS_EMBEDDED_POSTGRES: z.stringbool().optional(),
  /** Prefix for every topic name, for environments that share one cluster (e.g. `staging.`). */
  TIDINGS_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, { message: 'may contain only letters, digits, ".", "_" and "-"' })
    .default(''),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  // Notification providers. A channel whose credentials are absent is disabled at start-up
  // (one log line); a value that is present but malformed is an error here.
  SMTP_BACKUP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\//.test(v), { message: 'must be an smtp:// or smtps:// URL' })
    .optional(),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, { message: 'must be a Twilio account SID: "AC" and 32 hex digits' }).optional(),
  TWILIO_AUTH_TOKEN: z.string().optional(),
  TWILIO_FROM: z.string().regex(/^(\+[1-9]\d{1,14}|MG[0-9a-fA-F]{32})$/, { message: 'must be an E.164 number like +15551234567 or a Messaging Service SID ("MG" and 32 hex digits)' }).optional(),
  /** Where the Twilio REST API is; only for a local fake or proxy. Default https://api.twilio.com. */
  TWILIO_BASE_URL: z.url({ message: 'must be an http(s) URL' }).optional(),
  TWILIO_BACKUP_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, { message: 'must be a Twilio account SID: "AC" and 32 hex digits' }).optional(),
  TWILIO_BACKUP_AUTH_TOKEN: z.string().optional(),
  TWILIO_BACKUP_FROM: z.string().regex(/^(\+[1-9]\d{1,14}|MG[0-9a-fA-F]{32})$/, { message: 'must be an E.164 number like +15551234567 or a Messaging Service SID ("MG" and 32 hex digits)' }).optional(),
  TWILIO_BACKUP_BASE_URL: z.url({ message: 'must be an http(s) URL' }).optional(),
  /** Firebase service account key: a path to the JSON file, or the JSON itself. */
  FCM_SERVICE_ACCOUNT: z.string().optional(),
  /** A directory of email templates (`<locale>/manifest.json`, `<locale>/<template>/…`) used instead of the bundled ones. */
  TIDINGS_EMAIL_TEMPLATES: z.string().optional(),
  /** A local FCM endpoint for tests and the demo (plain http://). Default https://fcm.googleapis.com. */
  FCM_BASE_URL: z
    .string()
    .refine((v) => /^http:\/\/[^\s/]+(:\d+)?\/?$/.test(v), { message: 'must be a plain http://host:port URL of a local FCM endpoint' })
    .optional(),
  // Retention of the operational tables (src/retention/retention-options.ts has the defaults).
  TIDINGS_RETENTION_INBOX: duration,
  TIDINGS_RETENTION_INBOX_FORCE: z.stringbool().optional(),
  TIDINGS_RETENTION_LEDGER: duration,
  TIDINGS_RETENTION_ATTEMPTS: duration,
  TIDINGS_RETENTION_RATE_LIMITS: duration,
  TIDINGS_RETENTION_OUTBOX: duration,
  TIDINGS_PRUNE_INTERVAL: duration,
  TIDINGS_PRUNE_BATCH: z.coerce.number().int().positive().optional(),
  /** How long payment.events, its retry tiers and DLQs keep records (`tidings topics create` sets it). Default 7d. */
  TIDINGS_PAYMENT_RETENTION: duration,
  /** Who operator commands record as the actor (default: OS user@host). */
  TIDINGS_ACTOR: z.string().trim().min(1, { message: 'must not be empty' }).max(200).optional(),
  /** Port of a worker's /metrics, /healthz and /readyz (`tidings run --metrics-port` overrides it); unset: none served. */
  TIDINGS_METRICS_PORT: z
    .string()
    .refine((v) => /^\d{1,5}$/.test(v) && Number(v) <= 65535, { message: 'must be a port number from 0 to 65535' })
    .transform(Number)
    .optional(),
  /** How often a worker serving metrics reads its groups' lag from the broker. Default 15s. */
  TIDINGS_LAG_METRICS_INTERVAL: duration,
  /** How long a worker may take to stop after SIGTERM/SIGINT before it exits without waiting (`tidings run --shutdown-timeout`). Default 30s. */
  TIDINGS_SHUTDOWN_TIMEOUT: duration,
  /** Server secret of the end-user API's per-user tokens (HMAC-SHA256 of the user id); `tidings api` needs it. */
  TIDINGS_USER_TOKEN_SECRET: z.string().min(32, { message: 'must be at least 32 characters: generate one with `openssl rand -hex 32`' }).optional(),
  /**
   * Key-encryption key of users' data keys (personal fields are sealed per user; see README
   * "Security and compliance"): 32 random bytes as base64 or hex (`openssl rand -base64 32`).
   * Unset: personal fields are neither sealed nor opened.
   */
  TIDINGS_MASTER_KEY: z
    .string()
    .refine((v) => isKeySetting(v), {
      message: 'must be 32 random bytes as base64 or hex: generate one with `openssl rand -base64 32`',
    })
    .optional(),
});

/** True when `file` exists and this process may read it. */
function isReadableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Settings that are valid one by one but not together; each issue names the variable to fix. */
function connectionSecurityIssues(env: z.infer<typeof schema>, context: z.RefinementCtx): void {
  const issue = (variable: string, message: string): void => context.addIssue({ code: 'custom', path: [variable], message });
  if (env.KAFKA_SASL_MECHANISM) {
    if (env.KAFKA_SASL_USERNAME === undefined) issue('KAFKA_SASL_USERNAME', `is required with KAFKA_SASL_MECHANISM=${env.KAFKA_SASL_MECHANISM}`);
    if (env.KAFKA_SASL_PASSWORD === undefined) issue('KAFKA_SASL_PASSWORD', `is required with KAFKA_SASL_MECHANISM=${env.KAFKA_SASL_MECHANISM}`);
  } else {
    for (const variable of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if (env[variable] !== undefined) issue(variable, 'is set but KAFKA_SASL_MECHANISM is not: set it to scram-sha-512, scram-sha-256 or plain');
    }
  }
  const files = (['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const).filter((v) => env[v] !== undefined);
  if (env.KAFKA_SSL === false) for (const variable of files) issue(variable, 'is set but KAFKA_SSL is false: TLS files apply only with TLS on');
  const tls = env.KAFKA_SSL ?? files.length > 0;
  // PLAIN sends the password itself; SCRAM never does.
  if (env.KAFKA_SASL_MECHANISM === 'plain' && !tls) issue('KAFKA_SASL_MECHANISM', 'plain would send KAFKA_SASL_PASSWORD in clear text: set KAFKA_SSL=true, or use scram-sha-512');
  if ((env.KAFKA_SSL_CERT_FILE === undefined) !== (env.KAFKA_SSL_KEY_FILE === undefined)) {
    const [missing, other] = env.KAFKA_SSL_CERT_FILE === undefined ? ['KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] : ['KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_CERT_FILE'];
    issue(missing, `is required with ${other}: mutual TLS needs the client certificate and its key`);
  }
  if ((env.SCHEMA_REGISTRY_USERNAME === undefined) !== (env.SCHEMA_REGISTRY_PASSWORD === undefined)) {
    issue(env.SCHEMA_REGISTRY_USERNAME === undefined ? 'SCHEMA_REGISTRY_USERNAME' : 'SCHEMA_REGISTRY_PASSWORD', 'is required: basic auth needs SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD together');
  }
  if (env.SCHEMA_REGISTRY_TOKEN !== undefined && env.SCHEMA_REGISTRY_USERNAME !== undefined) {
    issue('SCHEMA_REGISTRY_TOKEN', 'and SCHEMA_REGISTRY_USERNAME/SCHEMA_REGISTRY_PASSWORD are both set: use either a bearer token or basic auth');
  }
  const plainRegistry = !(env.SCHEMA_REGISTRY_URL ?? LOCAL_DEFAULTS.schemaRegistryUrl).startsWith('https:');
  if (plainRegistry) {
    const credential = env.SCHEMA_REGISTRY_TOKEN !== undefined ? 'SCHEMA_REGISTRY_TOKEN' : env.SCHEMA_REGISTRY_PASSWORD !== undefined ? 'SCHEMA_REGISTRY_PASSWORD' : undefined;
    if (credential) issue(credential, 'would be sent in clear text: SCHEMA_REGISTRY_URL must be an https:// URL');
    if (env.SCHEMA_REGISTRY_CA_FILE !== undefined) issue('SCHEMA_REGISTRY_CA_FILE', 'applies only to an https:// SCHEMA_REGISTRY_URL');
  }
}

const withDefaults = schema.superRefine(connectionSecurityIssues).transform((env) => ({ ...env, DATABASE_URL: env.DATABASE_URL ?? defaultDatabaseUrl(env.TIDINGS_POSTGRES_PORT) }));

export type Env = z.infer<typeof withDefaults>;

/** The database URL used when DATABASE_URL is not set: the local stack's PostgreSQL. */
export function defaultDatabaseUrl(port = 5432): string {
  return `postgres://postgres@127.0.0.1:${port}/tidings`;
}

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = withDefaults.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Default endpoints of the local stack started by `tidings dev up`. */
export const LOCAL_DEFAULTS = {
  kafkaBrokers: ['127.0.0.1:9092'],
  schemaRegistryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
  smtpUrl: 'smtp://127.0.0.1:1025',
} as const;

export interface Endpoints {
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  databaseUrl: string;
  /** The schema of Tidings' tables (TIDINGS_DB_SCHEMA). */
  databaseSchema: string;
  smtpUrl: string;
  mailFrom: string;
  topicPrefix: string;
  /** SASL login and TLS to the brokers (KAFKA_SASL_*, KAFKA_SSL*); undefined: plaintext, no login. */
  kafkaSecurity?: KafkaSecurity;
  /** Basic auth or bearer token of the registry (SCHEMA_REGISTRY_USERNAME/PASSWORD or SCHEMA_REGISTRY_TOKEN). */
  schemaRegistryCredentials?: RegistryCredentials;
  /** PEM file of the CA(s) of an https:// registry (SCHEMA_REGISTRY_CA_FILE). */
  schemaRegistryCaFile?: string;
}

export function resolveEndpoints(env: Env = readEnv()): Endpoints {
  return {
    kafkaBrokers: env.KAFKA_BROKERS
      ? env.KAFKA_BROKERS.split(',').map((b) => b.trim())
      : env.TIDINGS_KAFKA_PORT
        ? [`127.0.0.1:${env.TIDINGS_KAFKA_PORT}`]
        : [...LOCAL_DEFAULTS.kafkaBrokers],
    schemaRegistryUrl:
      env.SCHEMA_REGISTRY_URL ?? (env.TIDINGS_REGISTRY_PORT ? `http://127.0.0.1:${env.TIDINGS_REGISTRY_PORT}/apis/ccompat/v7` : LOCAL_DEFAULTS.schemaRegistryUrl),
    databaseUrl: env.DATABASE_URL,
    databaseSchema: env.TIDINGS_DB_SCHEMA,
    smtpUrl: env.SMTP_URL ?? LOCAL_DEFAULTS.smtpUrl,
    mailFrom: env.MAIL_FROM,
    topicPrefix: env.TIDINGS_TOPIC_PREFIX,
    kafkaSecurity: kafkaSecurityOf(env),
    schemaRegistryCredentials:
      env.SCHEMA_REGISTRY_TOKEN !== undefined
        ? { token: env.SCHEMA_REGISTRY_TOKEN }
        : env.SCHEMA_REGISTRY_USERNAME !== undefined && env.SCHEMA_REGISTRY_PASSWORD !== undefined
          ? { username: env.SCHEMA_REGISTRY_USERNAME, password: env.SCHEMA_REGISTRY_PASSWORD }
          : undefined,
    schemaRegistryCaFile: env.SCHEMA_REGISTRY_CA_FILE,
  };
}

/** The Kafka security settings of an environment readEnv has checked (so their combination is valid). */
function kafkaSecurityOf(env: Env): KafkaSecurity | undefined {
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = env;
  const sasl = mechanism && username !== undefined && password !== undefined ? { mechanism, username, password } : undefined;
  const tls = env.KAFKA_SSL ?? [env.KAFKA_SSL_CA_FILE, env.KAFKA_SSL_CERT_FILE, env.KAFKA_SSL_KEY_FILE].some((f) => f !== undefined);
  const ssl = tls ? { caFile: env.KAFKA_SSL_CA_FILE, certFile: env.KAFKA_SSL_CERT_FILE, keyFile: env.KAFKA_SSL_KEY_FILE } : undefined;
  return sasl || ssl ? { sasl, ssl } : undefined;
}

/** How long payment.events and its copies keep records: TIDINGS_PAYMENT_RETENTION, else the default (7 days). */
export function paymentRetentionMs(env: Env = readEnv()): number {
  return env.TIDINGS_PAYMENT_RETENTION === undefined ? DEFAULT_PAYMENT_RETENTION_MS : parseDuration(env.TIDINGS_PAYMENT_RETENTION, 'TIDINGS_PAYMENT_RETENTION');
}
