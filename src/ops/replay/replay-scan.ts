import { randomUUID } from 'node:crypto';
import type { NotificationHandler } from '../../notifications/notification-handler';
import { RetryAbortedError } from '../../retry/retry';
import { readRanges } from './partition-reader';
import type { PreparedReplay, ReplayEnvironment } from './prepared-replay';
import { processedBy } from './processed-events';
import { addTo, emptyCounts, type ReplayCounts } from './replay-counts';
import { remainingRecords, type PartitionRange } from './replay-range';
import { untilDone } from './replay-sink';
import { countedType } from './record-filter';
import { resendCopies } from './resend-sink';

/** Records per chunk of a scan at least. */
const SCAN_CHUNK = 1_000;

/** What `--resend` would send: the notifications planned now for the events the group had processed. */
export interface ResendAnnouncement {
  /** Only events the group had processed by then are sent again. */
  cutoff: Date;
  /** Events whose notifications would go again. */
  events: number;
  /** Matching events the group has not processed yet: the live group sends those, not the replay. */
  notYetProcessed: number;
  /** Messages to send per event type and channel. */
  sends: Record<string, Record<string, number>>;
  /** Messages that would not go, per channel and reason (opted out, no address…). */
  suppressed: Record<string, Record<string, number>>;
  /** All messages to send. */
  total: number;
}

export interface ScanReport {
  /** Each partition's range and what it holds. */
  partitions: Array<{ topic: string; partition: number; from: string; to: string; read: number; matched: number; byType: Record<string, number> }>;
  counts: Pick<ReplayCounts, 'read' | 'matched' | 'filteredOut' | 'malformed' | 'erased' | 'byType'>;
  /** Reprocess: matching events the group has processed already (a replay would skip them). */
  alreadyProcessed?: number;
  announcement?: ResendAnnouncement;
}

/**
 * Reads the range without changing anything (a dry run, and what --resend announces before
 * it asks): counts per partition and event type, events the group already processed, and for
 * --resend the messages it would send. Returns 'stopped' if Ctrl-C came first.
 */
export async function scanReplay(env: ReplayEnvironment, prepared: PreparedReplay): Promise<ScanReport | 'stopped'> {
  const { platform, logger, signal } = env;
  const ranges: PartitionRange[] = prepared.ranges.map((r) => ({ ...r }));
  const partitions = ranges.map((r) => ({ topic: r.topic, partition: r.partition, from: r.next, to: r.end, read: 0, matched: 0, byType: {} as Record<string, number> }));
  const counts = emptyCounts();
  const { groupId, mode } = prepared;
  let alreadyProcessed = 0;
  const announcement: ResendAnnouncement | undefined =
    mode === 'resend' ? { cutoff: ((await platform.db.raw('SELECT now() AS now')) as { rows: Array<{ now: Date }> }).rows[0]!.now, events: 0, notYetProcessed: 0, sends: {}, suppressed: {}, total: 0 } : undefined;
  const progress = env.progress('scanning', remainingRecords(ranges));
  const result = await readRanges(platform.kafka, ranges, {
    label: 'scan',
    // A scan writes nothing per chunk: larger chunks than a run's transactions cost no more
    // to stop and read about 1.5 × faster (fewer slices, ticks and look-ups).
    chunkSize: () => Math.max(prepared.request.chunkSize, SCAN_CHUNK),
    signal,
    onChunk: async (range, messages) => {
      const ok = await untilDone(
        'scanning a chunk',
        async () => {
          const { matched, filteredOut, malformed, erased } = await prepared.filter.apply(range.topic, range.partition, messages);
          const events = matched.flatMap((m) => (m.event ? [m.event] : []));
          let processed = 0;
          if (groupId && mode === 'reprocess') processed = (await processedBy(platform.db, groupId, events.map((e) => e.eventId))).size;
          let resend: { copies: number; rows: Awaited<ReturnType<NotificationHandler['preview']>> } | undefined;
          if (announcement && groupId && prepared.group?.notifications) {
            // The ids here are only for planning; the real run derives them from its own replay id.
            const copies = await resendCopies(platform.db, groupId, events, randomUUID(), announcement.cutoff);
            resend = { copies: copies.length, rows: await prepared.group.notifications.preview(copies) };
          }
          // Counted once every read has succeeded: an outage retries the whole chunk.
          if (announcement && resend) {
            announcement.events += resend.copies;
            announcement.notYetProcessed += events.length - resend.copies;
            for (const row of resend.rows) {
              if (row.status === 'suppressed') addTo((announcement.suppressed[row.channel] ??= {}), row.reason ?? 'suppressed');
              else {
                addTo((announcement.sends[row.event_type] ??= {}), row.channel);
                announcement.total++;
              }
            }
          }
          alreadyProcessed += processed;
          counts.read += messages.length;
          counts.matched += matched.length;
          counts.filteredOut += filteredOut;
          counts.malformed += malformed;
          counts.erased = (counts.erased ?? 0) + erased;
          const p = partitions.find((x) => x.topic === range.topic && x.partition === range.partition)!;
          for (const m of matched) {
            addTo(counts.byType, countedType(m));
            addTo(p.byType, countedType(m));
          }
          p.read += messages.length;
          p.matched += matched.length;
        },
        signal,
        logger,
      );
      if (!ok) throw new RetryAbortedError('scan');
      progress.tick(messages.length);
    },
  });
  progress.done();
  if (result === 'stopped') return 'stopped';
  const { read, matched, filteredOut, malformed, erased, byType } = counts;
  return {
    partitions,
    counts: { read, matched, filteredOut, malformed, erased, byType },
    ...(mode === 'reprocess' ? { alreadyProcessed } : {}),
    ...(announcement ? { announcement } : {}),
  };
}
