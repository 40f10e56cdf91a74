import { ConfigResourceTypes, ConfigSource, type Admin } from 'kafkajs';
import { assertTopicsExist, topicOffsets } from './topic-offsets';

/** The settings an operator looks at first: how long records stay, compaction, the largest record. */
export const KEY_TOPIC_CONFIGS = ['retention.ms', 'cleanup.policy', 'max.message.bytes'] as const;

export interface TopicConfigValue {
  value: string | null;
  /** `topic`: set on the topic; `broker`: a broker-wide setting; `default`: Kafka's default. */
  source: 'topic' | 'broker' | 'default' | 'unknown';
}

export interface PartitionDescription {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  offline: number[];
  start: number;
  end: number;
}

export interface TopicDescription {
  topic: string;
  replicationFactor: number;
  /** Records kept: end − start over the partitions. */
  records: number;
  /** Partitions with fewer in-sync replicas than replicas, or without a leader. */
  underReplicated: number[];
  partitions: PartitionDescription[];
  configs: Record<string, TopicConfigValue>;
}

function sourceOf(source: ConfigSource): TopicConfigValue['source'] {
  switch (source) {
    case ConfigSource.TOPIC_CONFIG:
      return 'topic';
    case ConfigSource.DYNAMIC_BROKER_CONFIG:
    case ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG:
    case ConfigSource.STATIC_BROKER_CONFIG:
      return 'broker';
    case ConfigSource.DEFAULT_CONFIG:
      return 'default';
    default:
      return 'unknown';
  }
}

/** The contract topics and every topic derived from them (`<topic>.<name>.retry.N`, `… .dlq`) that exist, sorted. */
export async function topicFamily(admin: Admin, sources: readonly string[]): Promise<string[]> {
  const topics = await admin.listTopics();
  return topics.filter((t) => sources.some((s) => t === s || t.startsWith(`${s}.`))).sort();
}

/** Partitions (leader, replicas, ISR, offsets) and key configs of each topic; UnknownTopicError names any missing. */
export async function describeTopics(admin: Admin, topics: readonly string[]): Promise<TopicDescription[]> {
  if (topics.length === 0) return [];
  await assertTopicsExist(admin, topics);
  const [metadata, configs, offsets] = await Promise.all([
    admin.fetchTopicMetadata({ topics: [...topics] }),
    admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: [...KEY_TOPIC_CONFIGS] })),
    }),
    Promise.all(topics.map(async (topic) => [topic, await topicOffsets(admin, topic)] as const)),
  ]);
  const offsetsOf = new Map(offsets);
  return topics.map((topic): TopicDescription => {
    const meta = metadata.topics.find((t) => t.name === topic);
    const entries = configs.resources.find((r) => r.resourceName === topic)?.configEntries ?? [];
    const partitions = (meta?.partitions ?? [])
      .map((p): PartitionDescription => {
        const o = offsetsOf.get(topic)?.find((x) => x.partition === p.partitionId);
        return { partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, offline: p.offlineReplicas ?? [], start: o?.start ?? 0, end: o?.end ?? 0 };
      })
      .sort((a, b) => a.partition - b.partition);
    return {
      topic,
      replicationFactor: Math.max(0, ...partitions.map((p) => p.replicas.length)),
      records: partitions.reduce((n, p) => n + p.end - p.start, 0),
      underReplicated: partitions.filter((p) => p.leader < 0 || p.isr.length < p.replicas.length).map((p) => p.partition),
      partitions,
      configs: Object.fromEntries(
        KEY_TOPIC_CONFIGS.map((name) => {
          const entry = entries.find((e) => e.configName === name);
          return [name, entry === undefined ? { value: null, source: 'unknown' } : { value: entry.configValue, source: sourceOf(entry.configSource) }];
        }),
      ),
    };
  });
}
