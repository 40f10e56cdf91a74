import { z } from 'zod';
import { ConfigError } from '../errors';
import { DEFAULT_DB_SCHEMA, dbSchemaName } from '../db/schema-name';
import { parseDuration } from './duration';

/**
 * The one place environment variables are read. Each is validated at start-up and a bad
 * value is reported by name, so a typo never surfaces later as a confusing connection error.
 */
const hostPort = /^[^\s:,]+:\d{1,5}$/;
const duration = z
  .string()
  .refine((v) => parsesAsDuration(v), { message: 'must be a duration such as 30d, 12h, 10m, 30s or 500ms' })
  .optional();

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
  DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'must be a postgres:// URL' })
    .default('postgres://postgres@127.0.0.1:5432/tidings'),
  /** PostgreSQL schema of Tidings' tables, apart from a service's own; `tidings migrate` creates it. Default `tidings`. */
  TIDINGS_DB_SCHEMA: dbSchemaName.default(DEFAULT_DB_SCHEMA),
  SMTP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\//.test(v), { message: 'must be an smtp:// or smtps:// URL' })
    .optional(),
  MAIL_FROM: z.string().default('Tidings <no-reply@tidings.local>'),
  TIDINGS_HOME: z.string().optional(),
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
  /** Who operator commands record as the actor (default: OS user@host). */
  TIDINGS_ACTOR: z.string().trim().min(1, { message: 'must not be empty' }).max(200).optional(),
  /** Server secret of the end-user API's per-user tokens (HMAC-SHA256 of the user id); `tidings api` needs it. */
  TIDINGS_USER_TOKEN_SECRET: z.string().min(32, { message: 'must be at least 32 characters: generate one with `openssl rand -hex 32`' }).optional(),
});

export type Env = z.infer<typeof schema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = schema.safeParse(cleaned);
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
}

export function resolveEndpoints(env: Env = readEnv()): Endpoints {
  return {
    kafkaBrokers: env.KAFKA_BROKERS
      ? env.KAFKA_BROKERS.split(',').map((b) => b.trim())
      : [...LOCAL_DEFAULTS.kafkaBrokers],
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL ?? LOCAL_DEFAULTS.schemaRegistryUrl,
    databaseUrl: env.DATABASE_URL,
    databaseSchema: env.TIDINGS_DB_SCHEMA,
    smtpUrl: env.SMTP_URL ?? LOCAL_DEFAULTS.smtpUrl,
    mailFrom: env.MAIL_FROM,
    topicPrefix: env.TIDINGS_TOPIC_PREFIX,
  };
}
