import type { Admin } from 'kafkajs';
import { ConfigError } from '../../errors';

/** What is left to read of one partition: offsets `next` up to `end` (excluded). */
export interface PartitionRange {
  topic: string;
  partition: number;
  next: string;
  end: string;
}

/** One item of `--offsets`: a partition and its first and last offsets (both included), open ends undefined. */
export interface PartitionOffsets {
  partition: number;
  first?: bigint;
  last?: bigint;
}

const ITEM = /^(\d+)(?::(\d*)(-?)(\d*))?$/;

/**
 * Parses `--offsets`: comma-separated `<partition>:<first>-<last>` items, both offsets
 * included. `1:50-` reads from 50 to the end, `2:-300` from the start through 300, `3:42`
 * one record, `4` the whole partition. Partitions not named are not read.
 */
export function parseOffsetSpec(spec: string): PartitionOffsets[] {
  const items: PartitionOffsets[] = [];
  for (const raw of spec.split(',')) {
    const text = raw.trim();
    const m = ITEM.exec(text);
    const bad = (why: string): ConfigError =>
      new ConfigError(`--offsets: "${text}" ${why}; use <partition>:<first>-<last> items such as 0:100-200,1:50-,2:-300,3:42 (offsets included; an open end means the start or the end of the partition)`);
    if (!m) throw bad('is not a partition range');
    const [, partition, firstText, dash, lastText] = m;
    const item: PartitionOffsets = { partition: Number(partition) };
    if (firstText) item.first = BigInt(firstText);
    if (lastText) item.last = BigInt(lastText);
    // `3:42` is the one record at 42; `3:` and `3:-` are the whole partition.
    if (!dash && firstText) item.last = item.first;
    if (item.first !== undefined && item.last !== undefined && item.first > item.last) throw bad(`has its first offset after its last`);
    if (items.some((i) => i.partition === item.partition)) throw bad(`names partition ${item.partition} twice`);
    items.push(item);
  }
  return items;
}

/**
 * The source topics of a replay: each requested name as it exists on the broker, either as
 * given or under the platform's prefix (`auth.events` → `staging.auth.events`). An unknown
 * topic, or one outside `allowed` (the group's sources), is refused naming the fix.
 */
export async function resolveTopics(admin: Admin, requested: string[], options: { prefix: string; defaults: string[]; allowed?: string[]; groupId?: string }): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  if (requested.length === 0) {
    const missing = options.defaults.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new ConfigError(`the event topic(s) ${missing.join(', ')} do not exist${options.prefix ? '' : ' (is TIDINGS_TOPIC_PREFIX or --topic-prefix missing?)'}: create them with \`tidings topics create\`, or name existing ones with --topic`);
    }
    return options.defaults;
  }
  const topics = requested.map((name) => {
    const found = existingName(existing, name, options.prefix);
    if (!found) throw new ConfigError(`--topic: unknown topic "${name}"${options.prefix ? ` (nor "${options.prefix}${name}")` : ''}; existing topics: ${listed(existing)}`);
    if (options.allowed && !options.allowed.includes(found)) {
      throw new ConfigError(`--topic: ${options.groupId} does not read "${found}"; it reads ${options.allowed.join(', ')}`);
    }
    return found;
  });
  return [...new Set(topics)];
}

/** The topic a republish writes to, which must exist: a replay never creates topics. */
export async function resolveTarget(admin: Admin, name: string, prefix: string): Promise<string> {
  const existing = new Set(await admin.listTopics());
  const found = existingName(existing, name, prefix);
  if (!found) {
    throw new ConfigError(`--to-topic: topic "${name}" does not exist; create it first (with as many partitions as the source, so each key keeps its partition). Existing topics: ${listed(existing)}`);
  }
  return found;
}

function existingName(existing: Set<string>, name: string, prefix: string): string | undefined {
  return [name, `${prefix}${name}`].find((t) => existing.has(t));
}

function listed(existing: Set<string>): string {
  const known = [...existing].filter((t) => !t.startsWith('__')).sort();
  return (known.length > 12 ? `${known.slice(0, 12).join(', ')}, …` : known.join(', ')) || 'none';
}

/**
 * The offsets to read in each partition of `topics`, fixed now: by time (the first record at
 * or after `fromMs`, up to the last at or before `toMs`, else the end now) or by `--offsets`.
 * Records already deleted by retention are left out (a range starts at the log start at the earliest).
 */
export async function resolveRanges(admin: Admin, topics: string[], selection: { fromMs?: number; toMs?: number; offsets?: PartitionOffsets[] }): Promise<PartitionRange[]> {
  const ranges: PartitionRange[] = [];
  for (const topic of topics) {
    const watermarks = await admin.fetchTopicOffsets(topic);
    const low = new Map(watermarks.map((w) => [w.partition, BigInt(w.low)]));
    const high = new Map(watermarks.map((w) => [w.partition, BigInt(w.high)]));
    const byTime = async (ms: number | undefined): Promise<Map<number, bigint> | undefined> =>
      ms === undefined ? undefined : new Map((await admin.fetchTopicOffsetsByTimestamp(topic, ms)).map((o) => [o.partition, BigInt(o.offset)]));
    const starts = await byTime(selection.fromMs);
    // The first record after --to ends the range (its own offset excluded).
    const ends = await byTime(selection.toMs === undefined ? undefined : selection.toMs + 1);
    const wanted = selection.offsets ?? [...high.keys()].sort((a, b) => a - b).map((partition) => ({ partition }));
    for (const item of wanted) {
      const h = high.get(item.partition);
      const l = low.get(item.partition);
      if (h === undefined || l === undefined) {
        throw new ConfigError(`--offsets: ${topic} has no partition ${item.partition} (it has ${high.size}: 0 to ${high.size - 1})`);
      }
      const offsets = item as PartitionOffsets;
      let first = offsets.first ?? starts?.get(item.partition) ?? l;
      let end = offsets.last !== undefined ? offsets.last + 1n : (ends?.get(item.partition) ?? h);
      if (first < l) first = l;
      if (end > h) end = h;
      if (end < first) end = first;
      ranges.push({ topic, partition: item.partition, next: first.toString(), end: end.toString() });
    }
  }
  return ranges;
}

/** Records left to read over `ranges`. */
export function remainingRecords(ranges: PartitionRange[]): number {
  return ranges.reduce((sum, r) => sum + Number(BigInt(r.end) - BigInt(r.next)), 0);
}
