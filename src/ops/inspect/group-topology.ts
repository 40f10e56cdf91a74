import { dlqTopic, retryTopic, type RetryTopology } from '../../consumer/retry-topology';

/** Retry tiers and DLQs of one group, as found on the broker. */
export interface FoundTopology {
  /** The runtime name in the topic names (`notification` in `payment.events.notification.retry.1`), when found. */
  name?: string;
  tiers: Array<{ source: string; tier: number; topic: string }>;
  dlqs: Array<{ source: string; topic: string }>;
}

/** Runtime names are topic-name fragments; Tidings' own have no dots, which keeps `<source>.<name>.…` unambiguous. */
const NAME = '[A-Za-z0-9_-]+';

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The runtime name in a retry tier or DLQ topic of `source`, if it is one. */
function nameIn(topic: string, source: string): string | undefined {
  return new RegExp(`^${escape(source)}\\.(${NAME})\\.(?:retry\\.\\d+|dlq)$`).exec(topic)?.[1];
}

/** `tidings.notification.priority` → `tidings-notification-priority`, to compare with runtime names. */
function dashed(groupId: string): string {
  return groupId.replace(/\./g, '-');
}

/**
 * Finds the retry tiers and DLQs of a group reading `sources`. The runtime name is read from
 * the topics the group's retry consumer (`<group>.retry`) committed to or subscribed to; when
 * it has neither (no record was ever retried and it is not running), it is the longest name
 * among the tiers and DLQs of `sources` that ends the group id: `tidings.notification` →
 * `notification`, `tidings.notification.priority` → `notification-priority`.
 */
export function findGroupTopology(groupId: string, sources: readonly string[], allTopics: ReadonlySet<string>, retryGroupTopics: readonly string[]): FoundTopology {
  let name = retryGroupTopics.flatMap((t) => sources.map((s) => nameIn(t, s))).find((n) => n !== undefined);
  if (name === undefined) {
    const candidates = new Set([...allTopics].flatMap((t) => sources.map((s) => nameIn(t, s)).filter((n): n is string => n !== undefined)));
    const id = dashed(groupId);
    name = [...candidates].filter((n) => id === n || id.endsWith(`-${n}`)).sort((a, b) => b.length - a.length)[0];
  }
  if (name === undefined) return { tiers: [], dlqs: [] };
  const topology: RetryTopology = { name, sources: [...sources], delaysMs: [] };
  const tiers = sources.flatMap((source) => {
    const found: FoundTopology['tiers'] = [];
    for (let tier = 1; allTopics.has(retryTopic(topology, source, tier)); tier++) found.push({ source, tier, topic: retryTopic(topology, source, tier) });
    return found;
  });
  const dlqs = sources.map((source) => ({ source, topic: dlqTopic(topology, source) })).filter((d) => allTopics.has(d.topic));
  return { name, tiers, dlqs };
}
