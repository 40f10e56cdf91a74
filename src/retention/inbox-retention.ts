import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { ConfigError } from '../errors';
import type { Logger } from '../observability/logger';
import { formatDuration, RETENTION_ENV, type RetentionSettings } from './retention-options';

/** How long the broker may still serve a topic's records; `null`: forever. */
export interface TopicRetention {
  topic: string;
  retentionMs: number | null;
  segmentMs: number;
}

/**
 * The longest a record of `topic` can still be read: Kafka deletes whole closed segments once
 * their newest record is older than retention.ms, so a record can outlive retention.ms by up
 * to segment.ms. A compacted topic (or retention.ms = -1) keeps records forever.
 */
export function recordLifetimeMs(topic: TopicRetention): number | null {
  return topic.retentionMs === null ? null : topic.retentionMs + topic.segmentMs;
}

export async function readTopicRetention(kafka: Kafka, topics: readonly string[]): Promise<TopicRetention[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms', 'segment.ms', 'cleanup.policy'] })),
    });
    return resources.map((resource) => {
      const value = (name: string): string | undefined => resource.configEntries.find((e) => e.configName === name)?.configValue;
      const retentionMs = Number(value('retention.ms') ?? -1);
      const deletes = (value('cleanup.policy') ?? 'delete').split(',').includes('delete');
      return { topic: resource.resourceName, retentionMs: retentionMs < 0 || !deletes ? null : retentionMs, segmentMs: Number(value('segment.ms') ?? 0) };
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * The start-up check of the inbox invariant: an inbox row must outlive every record that can
 * still bring its event back, i.e. the longest a source record can be read (a replay, a
 * rebalance redelivery) plus the time a record can spend going through every retry tier.
 * Otherwise a redelivered record is no longer recognised and its effects are applied again.
 *
 * Returns whether the inbox may be pruned: false when a source topic keeps records forever
 * (no finite retention is safe then, so inbox rows are kept unless `forceInbox`). Throws a
 * ConfigError naming the setting, the values and the fix when the retention is too short.
 */
export function inboxMayBePruned(topics: readonly TopicRetention[], retryDelaysMs: readonly number[], settings: RetentionSettings, logger?: Logger): boolean {
  if (settings.forceInbox) return true;
  const inTiersMs = retryDelaysMs.reduce((a, b) => a + b, 0);
  const forever = topics.filter((t) => recordLifetimeMs(t) === null).map((t) => t.topic);
  if (forever.length > 0) {
    logger?.warn(
      { topics: forever },
      `inbox rows are kept forever: these topics keep their records forever (retention.ms -1 or compacted); set ${RETENTION_ENV.forceInbox}=true to prune them at ${RETENTION_ENV.inboxMs} anyway`,
    );
    return false;
  }
  const longest = [...topics].sort((a, b) => (recordLifetimeMs(b) ?? 0) - (recordLifetimeMs(a) ?? 0))[0];
  if (!longest) return true;
  const requiredMs = (recordLifetimeMs(longest) ?? 0) + inTiersMs;
  if (settings.inboxMs >= requiredMs) return true;
  throw new ConfigError(
    `${RETENTION_ENV.inboxMs} is ${formatDuration(settings.inboxMs)}, but an inbox row must outlive the records of the topics it reads plus the retry tiers: ` +
      `${longest.topic} can serve a record for up to ${formatDuration(recordLifetimeMs(longest) ?? 0)} ` +
      `(retention.ms ${longest.retentionMs} + segment.ms ${longest.segmentMs}) and the retry tiers add ${formatDuration(inTiersMs)}, ` +
      `so a redelivered record would be processed again. Set ${RETENTION_ENV.inboxMs} to at least ${formatDuration(requiredMs)}, ` +
      `shorten the topic's retention.ms or segment.ms, or set ${RETENTION_ENV.forceInbox}=true to accept that.`,
  );
}

/**
 * Reads from the broker the retention of the source topics and of the retry tiers that exist
 * already (any group's: `<source>.<group>.retry.<n>`; a tier record can be read again after
 * an offset reset too), and applies `inboxMayBePruned`. Tiers that do not exist yet are
 * created with a retention of their own (src/consumer/retry-topology.ts) and are checked
 * from the next start on.
 */
export async function checkInboxRetention(
  kafka: Kafka,
  sources: readonly string[],
  retryDelaysMs: readonly number[],
  settings: RetentionSettings,
  logger?: Logger,
): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.listTopics().finally(() => admin.disconnect());
  const tiers = existing.filter((topic) => sources.some((source) => topic.startsWith(`${source}.`)) && /\.retry\.\d+$/.test(topic));
  return inboxMayBePruned(await readTopicRetention(kafka, [...sources, ...tiers]), retryDelaysMs, settings, logger);
}
