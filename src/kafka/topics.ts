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

export interface TopicSpec {
  topic: string;
  partitions: number;
  config?: Record<string, string>;
  /**
   * Set as `retention.ms` on creation, and raised to it on an existing topic that keeps its
   * records for less (never lowered: an operator may keep them longer).
   */
  minRetentionMs?: number;
}

export function eventTopicSpecs(topics: TopicNames = DEFAULT_TOPICS, partitions = 6): TopicSpec[] {
  return [
    { topic: topics.auth, partitions },
    { topic: topics.payment, partitions },
  ];
}

/** A topic just created has no leader yet for some partition. */
export class TopicNotReadyError extends TidingsError {
  constructor(topics: string[]) {
    super('TOPIC_NOT_READY', `no leader yet for every partition of ${topics.join(', ')}`, { retriable: true });
  }
}

/** Creates the topics that do not exist yet and raises short retentions; returns the names it created. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  await raiseRetention(
    admin,
    specs.filter((s) => existing.has(s.topic)),
  );
  if (missing.length === 0) return [];
  // Not kafkajs' waitForLeaders: it gives up on the UNKNOWN_TOPIC_OR_PARTITION a KRaft broker
  // answers for a moment after creating a topic, failing the start of whatever created it.
  await admin.createTopics({
    waitForLeaders: false,
    topics: missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      configEntries: Object.entries(configOf(s)).map(([name, value]) => ({ name, value })),
    })),
  });
  await untilLed(admin, missing.map((s) => s.topic));
  return missing.map((s) => s.topic);
}

function configOf(spec: TopicSpec): Record<string, string> {
  return spec.minRetentionMs === undefined ? (spec.config ?? {}) : { ...spec.config, 'retention.ms': String(spec.minRetentionMs) };
}

/**
 * Raises `retention.ms` of existing topics to their spec's minimum. kafkajs has only the
 * non-incremental AlterConfigs, which resets every topic setting it is not given, so the
 * topic's own settings are sent along unchanged.
 */
async function raiseRetention(admin: Admin, specs: TopicSpec[]): Promise<void> {
  const wanted = new Map(specs.filter((s) => s.minRetentionMs !== undefined).map((s) => [s.topic, s.minRetentionMs as number]));
  if (wanted.size === 0) return;
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [...wanted.keys()].map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  const alter = resources.flatMap((r) => {
    const min = wanted.get(r.resourceName);
    const current = Number(r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue);
    if (min === undefined || !Number.isFinite(current) || current < 0 || current >= min) return [];
    const own = r.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG && e.configName !== 'retention.ms' && !e.isSensitive);
    return [
      {
        type: ConfigResourceTypes.TOPIC,
        name: r.resourceName,
        configEntries: [...own.map((e) => ({ name: e.configName, value: e.configValue })), { name: 'retention.ms', value: String(min) }],
      },
    ];
  });
  if (alter.length > 0) await admin.alterConfigs({ validateOnly: false, resources: alter });
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
