import { ConfigResourceTypes, ConfigSource, KafkaJSProtocolError, type Admin } from 'kafkajs';
import { TidingsError } from '../errors';
import { retry } from '../retry/retry';

/** The topics of the event contract. Tests and staging can rename them; production uses the defaults. */
export interface TopicNames {
  auth: string;
  payment: string;
}

export const DEFAULT_TOPICS: TopicNames = { auth: 'auth.events', payment: 'payment.events' };

export type Domain = keyof TopicNames;

/** The contract's topics under a prefix (`staging.` → `staging.auth.events`). */
export function prefixedTopics(prefix: string): TopicNames {
  return { auth: `${prefix}${DEFAULT_TOPICS.auth}`, payment: `${prefix}${DEFAULT_TOPICS.payment}` };
}

/** How long payment.events and its copies (retry tiers, DLQs) keep records unless TIDINGS_PAYMENT_RETENTION says otherwise. */
export const DEFAULT_PAYMENT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export interface TopicSpec {
  topic: string;
  partitions: number;
  config?: Record<string, string>;
  /**
   * Set as `retention.ms` on creation, and raised to it on an existing topic that keeps its
   * records for less (never lowered: an operator may keep them longer).
   */
  minRetentionMs?: number;
  /** Set as `retention.ms` on creation and on an existing topic, raised or lowered: records that must not be kept longer. */
  retentionMs?: number;
  /**
   * The topic whose records this one holds copies of (a retry tier's or a DLQ's source). When
   * the source has a `retention.ms` of its own (payment.events), a copy is kept no longer than
   * the original: this topic's retention is lowered to the source's, but never below `floorMs`
   * (a tier's records must outlive their delay). Without one, the rest of the spec applies.
   */
  copyOf?: { topic: string; floorMs?: number };
}

/**
 * The contract's topics. payment.events keeps its records for `paymentRetentionMs` only, as
 * card-adjacent financial data should (PCI DSS); its retry tiers and DLQs follow it (copyOf).
 */
export function eventTopicSpecs(topics: TopicNames = DEFAULT_TOPICS, partitions = 6, paymentRetentionMs = DEFAULT_PAYMENT_RETENTION_MS): TopicSpec[] {
  return [
    { topic: topics.auth, partitions },
    { topic: topics.payment, partitions, retentionMs: paymentRetentionMs },
  ];
}

/** A topic just created has no leader yet for some partition. */
export class TopicNotReadyError extends TidingsError {
  constructor(topics: string[]) {
    super('TOPIC_NOT_READY', `no leader yet for every partition of ${topics.join(', ')}`, { retriable: true });
  }
}

/** Creates the topics that do not exist yet and brings the retention of the others in line with their spec; returns the names it created. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const sources = [...new Set(specs.flatMap((s) => (s.copyOf && existing.has(s.copyOf.topic) ? [s.copyOf.topic] : [])))];
  const caps = await ownRetentions(admin, sources);
  const missing = specs.filter((s) => !existing.has(s.topic));
  await adjustRetention(
    admin,
    specs.filter((s) => existing.has(s.topic)),
    caps,
  );
  if (missing.length === 0) return [];
  // Not kafkajs' waitForLeaders: it gives up on the UNKNOWN_TOPIC_OR_PARTITION a KRaft broker
  // answers for a moment after creating a topic, failing the start of whatever created it.
  await admin.createTopics({
    waitForLeaders: false,
    topics: missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      configEntries: Object.entries(configOf(s, caps)).map(([name, value]) => ({ name, value })),
    })),
  });
  await untilLed(admin, missing.map((s) => s.topic));
  return missing.map((s) => s.topic);
}

/**
 * Lowers the retention of the existing copies of `sources` (the topics named `<source>.…`:
 * retry tiers and DLQs of every group) to their source's own retention, when it has one
 * (see TopicSpec.copyOf). A tier's floor is not known here: a worker's start raises a tier
 * whose delay needs more back to three times its delay. Returns the topics changed.
 */
export async function alignCopies(admin: Admin, sources: readonly string[]): Promise<string[]> {
  const topics = await admin.listTopics();
  const caps = await ownRetentions(
    admin,
    sources.filter((s) => topics.includes(s)),
  );
  const copies = topics.flatMap((topic) => {
    const source = [...caps.keys()].find((s) => topic.startsWith(`${s}.`));
    return source === undefined ? [] : [{ topic, partitions: 0, copyOf: { topic: source } }];
  });
  return adjustRetention(admin, copies, caps);
}

/** The `retention.ms` each topic has set on itself (not inherited from the broker), when it keeps records for a limited time. */
async function ownRetentions(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  if (topics.length === 0) return new Map();
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })),
  });
  return new Map(
    resources.flatMap((r) => {
      const entry = r.configEntries.find((e) => e.configName === 'retention.ms');
      const ms = Number(entry?.configValue);
      return entry?.configSource === ConfigSource.TOPIC_CONFIG && Number.isFinite(ms) && ms >= 0 ? [[r.resourceName, ms] as const] : [];
    }),
  );
}

/** The most a copy may keep its records: its source's own retention (see TopicSpec.copyOf), if it has one. */
function capOf(spec: TopicSpec, caps: ReadonlyMap<string, number>): number | undefined {
  const source = spec.copyOf && caps.get(spec.copyOf.topic);
  return source === undefined ? undefined : Math.max(source, spec.copyOf?.floorMs ?? 0);
}

/**
 * The `retention.ms` a topic should have, from the one it has (`current`; -1 keeps records
 * forever; undefined: a topic about to be created with no retention of its own).
 */
function retentionTarget(spec: TopicSpec, current: number | undefined, cap: number | undefined): number | undefined {
  if (spec.retentionMs !== undefined) return spec.retentionMs;
  let target = current;
  if (spec.minRetentionMs !== undefined && (target === undefined || (target >= 0 && target < spec.minRetentionMs))) target = spec.minRetentionMs;
  if (cap !== undefined && (target === undefined || target < 0 || target > cap)) target = cap;
  return target;
}

function configOf(spec: TopicSpec, caps: ReadonlyMap<string, number>): Record<string, string> {
  const configured = spec.config?.['retention.ms'];
  const retention = retentionTarget(spec, configured === undefined ? undefined : Number(configured), capOf(spec, caps));
  return retention === undefined ? (spec.config ?? {}) : { ...spec.config, 'retention.ms': String(retention) };
}

/**
 * Sets `retention.ms` of existing topics to what their spec asks (retentionTarget); returns
 * those changed. kafkajs has only the non-incremental AlterConfigs, which resets every topic
 * setting it is not given, so the topic's own settings are sent along unchanged.
 */
async function adjustRetention(admin: Admin, specs: TopicSpec[], caps: ReadonlyMap<string, number>): Promise<string[]> {
  const governed = new Map(specs.filter((s) => s.retentionMs !== undefined || s.minRetentionMs !== undefined || capOf(s, caps) !== undefined).map((s) => [s.topic, s]));
  if (governed.size === 0) return [];
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [...governed.keys()].map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  const alter = resources.flatMap((r) => {
    const spec = governed.get(r.resourceName);
    const current = Number(r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue);
    if (spec === undefined || !Number.isFinite(current)) return [];
    const target = retentionTarget(spec, current, capOf(spec, caps));
    if (target === undefined || target === current) return [];
    const own = r.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG && e.configName !== 'retention.ms' && !e.isSensitive);
    return [
      {
        type: ConfigResourceTypes.TOPIC,
        name: r.resourceName,
        configEntries: [...own.map((e) => ({ name: e.configName, value: e.configValue })), { name: 'retention.ms', value: String(target) }],
      },
    ];
  });
  if (alter.length > 0) await admin.alterConfigs({ validateOnly: false, resources: alter });
  return alter.map((a) => a.name);
}

/** Resolves once every partition of `topics` has a leader; retriable metadata errors mean "not yet". */
async function untilLed(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await retry(
    async () => {
      const metadata = await admin.fetchTopicMetadata({ topics });
      if (!metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) throw new TopicNotReadyError(topics);
    },
    {
      what: `leaders for ${topics.join(', ')}`,
      initialMs: 100,
      maxMs: 1_000,
      shouldRetry: (error) => (error instanceof TopicNotReadyError || (error instanceof KafkaJSProtocolError && error.retriable)) && Date.now() < deadline,
    },
  );
}
