import { describe } from '../../errors';
import { RetryAbortedError } from '../../retry/retry';
import { recordOperatorAction } from '../operator-actions';
import { Pacer } from '../pacer';
import { readRanges } from './partition-reader';
import type { PreparedReplay, ReplayEnvironment } from './prepared-replay';
import { addTo, emptyCounts, type ReplayCounts } from './replay-counts';
import { HEARTBEAT_MS, ReplayJobs, type ReplayJob } from './replay-jobs';
import { remainingRecords } from './replay-range';
import { untilDone, type ReplaySink } from './replay-sink';
import type { ResendAnnouncement } from './replay-scan';
import { countedType } from './record-filter';
import { ReprocessSink } from './reprocess-sink';
import { RepublishSink } from './republish-sink';
import { ResendSink } from './resend-sink';

/**
 * Records a new job with its range and, for a re-send or a republish, the operator action
 * (who, what, why), in one transaction.
 */
export async function createReplayJob(env: ReplayEnvironment, prepared: PreparedReplay, actor: string, announcement?: ResendAnnouncement): Promise<ReplayJob> {
  const { request, mode } = prepared;
  if (!mode) throw new Error('a replay job needs a mode: --group or --to-topic');
  return env.platform.db.transaction(async (trx) => {
    const job = await new ReplayJobs(trx).create({
      mode,
      groupId: prepared.groupId,
      toTopic: prepared.target,
      request,
      positions: prepared.ranges,
      counts: emptyCounts(),
      total: remainingRecords(prepared.ranges),
      createdBy: actor,
      resendCutoff: announcement?.cutoff,
    });
    if (mode !== 'reprocess') {
      await recordOperatorAction(trx, {
        actor,
        action: mode === 'resend' ? 'replay.resend' : 'replay.republish',
        target: mode === 'resend' ? (prepared.groupId as string) : (prepared.target as string),
        reason: request.reason,
        details: {
          replayId: job.id,
          topics: prepared.topics,
          ranges: prepared.ranges,
          types: request.types,
          user: request.user ?? null,
          ...(announcement ? { announced: { events: announcement.events, messages: announcement.sends } } : {}),
        },
      });
    }
    return job;
  });
}

export interface ReplayOutcome {
  id: string;
  status: 'done' | 'interrupted' | 'failed';
  counts: ReplayCounts;
  error?: string;
}

/**
 * Runs a job (new or resumed) from its saved positions to the end of its range: each chunk is
 * filtered, paced (`--rate`), handed to the sink, and only then its position and the counts
 * are saved together. Ctrl-C stops it after the chunk in progress (`interrupted`); an error
 * that is not an outage fails it (`failed`); both can be resumed.
 */
export async function runReplayJob(env: ReplayEnvironment, prepared: PreparedReplay, job: ReplayJob): Promise<ReplayOutcome> {
  const { platform, logger, signal } = env;
  const jobs = new ReplayJobs(platform.db);
  const { request } = prepared;
  const counts = job.counts;
  const positions = job.positions;
  const sink = createSink(env, prepared, job);
  const pacer = new Pacer(request.rate);
  // With a rate, a chunk is about a second's worth, so a stop never waits long for one.
  const chunkSize = request.rate === undefined ? request.chunkSize : Math.min(request.chunkSize, Math.max(1, Math.floor(request.rate)));
  const progress = env.progress(`replay ${job.id.slice(0, 8)}`, remainingRecords(positions));
  const heartbeat = setInterval(() => void jobs.heartbeat(job.id).catch(() => undefined), HEARTBEAT_MS);
  heartbeat.unref();
  let outcome: ReplayOutcome;
  try {
    await sink.open();
    const result = await readRanges(platform.kafka, positions, {
      label: job.id.slice(0, 8),
      chunkSize: () => chunkSize,
      signal,
      onChunk: async (range, messages, upTo) => {
        let filtered: Awaited<ReturnType<typeof prepared.filter.apply>> | undefined;
        if (!(await untilDone('reading a chunk', async () => void (filtered = await prepared.filter.apply(range.topic, range.partition, messages)), signal, logger))) {
          throw new RetryAbortedError('replay');
        }
        const { matched, filteredOut, malformed, erased } = filtered!;
        if (matched.length > 0) {
          await pacer.take(matched.length, signal);
          if (!(await sink.process(matched, counts, signal))) throw new RetryAbortedError('replay');
        }
        counts.read += messages.length;
        counts.matched += matched.length;
        counts.filteredOut += filteredOut;
        counts.malformed += malformed;
        counts.erased = (counts.erased ?? 0) + erased;
        for (const m of matched) addTo(counts.byType, countedType(m));
        if (matched.length > 0) addTo(counts.byPartition, `${range.topic}:${range.partition}`, matched.length);
        range.next = upTo;
        // Saved even when Ctrl-C came meanwhile: this chunk is done and must not be redone.
        await untilDone('saving the replay position', () => jobs.saveProgress(job.id, positions, counts), new AbortController().signal, logger);
        progress.tick(messages.length);
      },
    });
    const status = result === 'done' ? 'done' : 'interrupted';
    await jobs.finish(job.id, status);
    outcome = { id: job.id, status, counts };
  } catch (error) {
    logger.error({ replayId: job.id, error: describe(error) }, 'replay failed');
    await jobs.finish(job.id, 'failed', describe(error)).catch(() => undefined);
    outcome = { id: job.id, status: 'failed', counts, error: describe(error) };
  } finally {
    clearInterval(heartbeat);
    await sink.close().catch(() => undefined);
  }
  progress.done({ status: outcome.status });
  return outcome;
}

function createSink(env: ReplayEnvironment, prepared: PreparedReplay, job: ReplayJob): ReplaySink {
  const { platform, logger } = env;
  switch (job.mode) {
    case 'reprocess':
      return new ReprocessSink(prepared.group!, platform.kafka);
    case 'resend':
      return new ResendSink({ db: platform.db, groupId: prepared.groupId!, handler: prepared.group!.notifications!, replayId: job.id, cutoff: job.resendCutoff ?? new Date(), logger });
    case 'republish':
      return new RepublishSink(platform.kafka, prepared.target!, job.id, logger);
  }
}
