import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { parseDurations } from '../../config/duration';
import { ConfigError } from '../../errors';
import { createLogger } from '../../observability/logger';
import { cliActor } from '../../ops/operator-actions';
import { prepareReplay, type PreparedReplay, type ReplayEnvironment } from '../../ops/replay/prepared-replay';
import type { ReplayCounts } from '../../ops/replay/replay-counts';
import { ReplayJobs, type ReplayJob, type ReplayStatus } from '../../ops/replay/replay-jobs';
import { createReplayJob, runReplayJob, type ReplayOutcome } from '../../ops/replay/replay-runner';
import { parseReplayRequest, REPLAY_GROUPS, type ReplayRequest } from '../../ops/replay/replay-request';
import { scanReplay, type ResendAnnouncement, type ScanReport } from '../../ops/replay/replay-scan';
import { operatorPlatform } from '../operator-command';
import { createProgress } from '../progress';
import { parseTimeRange } from '../time-range';

interface ReplayFlags {
  group?: string;
  groupId?: string;
  lane?: string;
  retryDelays?: string;
  resend?: boolean;
  yes?: boolean;
  toTopic?: string;
  topic: string[];
  type: string[];
  user?: string;
  from?: string;
  to?: string;
  offsets?: string;
  rate?: string;
  chunkSize?: string;
  reason?: string;
  dryRun?: boolean;
  json?: boolean;
  topicPrefix?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerReplayCommands(program: Command): void {
  const replay = program
    .command('replay')
    .description('reprocess a range of events through a consumer group, or republish it to another topic, beside the live group')
    .option('--group <name>', `reprocess through this consumer group (${REPLAY_GROUPS.join(', ')}): events it already processed are skipped`)
    .option('--to-topic <topic>', 'republish the records to this existing topic instead, with their key, value and headers')
    .option('--resend', 'with --group notification: send the notifications of already processed events again (asks first)')
    .option('--yes', 'confirm --resend without asking (scripts)')
    .option('--from <time>', 'first record time: ISO-8601, now, or relative such as -2h, -30m, -7d')
    .option('--to <time>', 'last record time (default: the end of each partition when the replay starts)')
    .option('--offsets <spec>', 'offsets of one --topic instead: <partition>:<first>-<last>,… both included, e.g. 0:100-200,1:50-')
    .option('--topic <topic>', 'source topic (repeatable); default the group\'s topics, or both event topics', collect, [])
    .option('--type <type>', 'only this event type (repeatable), e.g. PAYMENT_SUCCEEDED', collect, [])
    .option('--user <id>', 'only events of this user id')
    .option('--dry-run', 'count per partition and event type (and what --resend would send); change nothing')
    .option('--rate <n>', 'at most n events per second')
    .option('--chunk-size <n>', 'records per transaction and progress save (default 100)')
    .option('--reason <text>', 'why (recorded with --resend and --to-topic)')
    .option('--group-id <id>', 'the group\'s Kafka group id, if not tidings.<group>')
    .option('--lane <lane>', 'notification lane the group runs (all, priority, bulk)')
    .option('--retry-delays <list>', 'the retry tiers the group runs with, e.g. 10s,1m,10m,1h (the default)')
    .option('--topic-prefix <prefix>', 'prefix of every topic name (overrides TIDINGS_TOPIC_PREFIX)')
    .option('--json', 'print the result as JSON; progress as JSON lines on stderr')
    .addHelpText(
      'after',
      `
The live group keeps running: a replay reads with a consumer group of its own (never the live
group's offsets) up to the end each partition had when it started, and hands the records to
the group's pipeline (its inbox: events already processed are skipped and counted). Ctrl-C
stops after the chunk in progress and prints how to resume; jobs are kept in PostgreSQL.

Examples:
  $ tidings replay --group notification --from -2h --dry-run
  $ tidings replay --group notification --from 2026-12-01T10:00:00Z --to 2026-12-01T12:00:00Z --type PAYMENT_SUCCEEDED
  $ tidings replay --group audit --topic payment.events --offsets 0:100-200,1:50- --rate 50
  $ tidings replay --group notification --resend --from -1h --type PAYMENT_SUCCEEDED --user u-42 --reason "receipt template fixed"
  $ tidings replay --to-topic payment.events.copy --from -1d --user u-42 --reason "debugging u-42"
  $ tidings replay list
  $ tidings replay resume 5f3c2a`,
    )
    .action(async (flags: ReplayFlags) => {
      const request = requestFrom(flags);
      await withPlatform(flags.topicPrefix, async (env) => {
        const prepared = await prepareReplay(env.platform, request);
        try {
          await startReplay(env, prepared, flags);
        } finally {
          await prepared.close();
        }
      }, flags.json);
    });

  replay
    .command('list')
    .description('the replay jobs, newest first, with their progress')
    .option('--status <status>', 'only jobs in this status: running, interrupted, done, failed')
    .option('--limit <n>', 'at most n jobs (default 20)')
    .option('--json', 'print the jobs as JSON')
    .addHelpText('after', '\nExamples:\n  $ tidings replay list\n  $ tidings replay list --status interrupted --json')
    // `replay` has options of the same names, which commander gives to it: read both levels.
    .action(async (_options: object, command: Command) => {
      const flags = command.optsWithGlobals<{ status?: string; limit?: string; json?: boolean }>();
      const status = flags.status;
      if (status !== undefined && !['running', 'interrupted', 'done', 'failed'].includes(status)) {
        throw new ConfigError(`--status must be running, interrupted, done or failed (got "${status}")`);
      }
      const limit = flags.limit === undefined ? undefined : positiveInteger(flags.limit, '--limit');
      await withPlatform(undefined, async ({ platform }) => {
        const jobs = await new ReplayJobs(platform.db).list({ status: status as ReplayStatus | undefined, limit });
        if (flags.json) return void console.log(JSON.stringify(jobs));
        if (jobs.length === 0) return void console.log('no replay jobs');
        for (const job of jobs) console.log(describeJob(job));
      });
    });

  replay
    .command('resume <id>')
    .description('go on with a replay that was stopped (Ctrl-C), failed, or whose process died, from where it was')
    .option('--rate <n>', 'at most n events per second (default: as the job was started)')
    .option('--topic-prefix <prefix>', 'prefix of every topic name (overrides TIDINGS_TOPIC_PREFIX)')
    .option('--json', 'print the result as JSON; progress as JSON lines on stderr')
    .addHelpText('after', '\nExamples:\n  $ tidings replay resume 5f3c2a          the first characters of the id are enough\n  $ tidings replay resume 5f3c2a --rate 20')
    .action(async (id: string, _options: object, command: Command) => {
      const flags = command.optsWithGlobals<{ rate?: string; json?: boolean; topicPrefix?: string }>();
      const rate = flags.rate === undefined ? undefined : positiveNumber(flags.rate, '--rate');
      await withPlatform(flags.topicPrefix, async (env) => {
        const jobs = new ReplayJobs(env.platform.db);
        const job = await jobs.claim(id);
        let prepared: PreparedReplay;
        try {
          const request: ReplayRequest = rate === undefined ? job.request : { ...job.request, rate };
          prepared = await prepareReplay(env.platform, request, job.positions);
        } catch (error) {
          await jobs.finish(job.id, 'failed', error instanceof Error ? error.message : String(error));
          throw error;
        }
        try {
          if (!flags.json) console.log(`resuming replay ${job.id} (${job.mode}): ${job.counts.read} of ${job.total} records done`);
          report(await runReplayJob(env, prepared, job), job.total, flags.json);
        } finally {
          await prepared.close();
        }
      }, flags.json);
    });
}

/** The flags as a request; every check that needs no broker happens here. */
function requestFrom(flags: ReplayFlags): ReplayRequest {
  const { fromMs, toMs } = parseTimeRange({ from: flags.from, to: flags.to });
  return parseReplayRequest(
    {
      group: flags.group as ReplayRequest['group'],
      groupId: flags.groupId,
      lane: flags.lane as ReplayRequest['lane'],
      retryDelaysMs: flags.retryDelays === undefined ? undefined : parseDurations(flags.retryDelays, '--retry-delays'),
      resend: flags.resend === true,
      toTopic: flags.toTopic,
      topics: flags.topic,
      types: flags.type,
      user: flags.user,
      fromMs,
      toMs,
      offsets: flags.offsets,
      rate: flags.rate === undefined ? undefined : positiveNumber(flags.rate, '--rate'),
      chunkSize: flags.chunkSize === undefined ? undefined : positiveInteger(flags.chunkSize, '--chunk-size'),
      reason: flags.reason,
    },
    { dryRun: flags.dryRun === true },
  );
}

async function startReplay(env: ReplayEnvironment, prepared: PreparedReplay, flags: ReplayFlags): Promise<void> {
  const json = flags.json === true;
  let announcement: ResendAnnouncement | undefined;
  if (flags.dryRun || prepared.mode === 'resend') {
    const scan = await scanReplay(env, prepared);
    if (scan === 'stopped') {
      console.log(json ? JSON.stringify({ status: 'stopped', changed: false }) : 'stopped before anything was changed');
      process.exitCode = 130;
      return;
    }
    if (flags.dryRun) return void printScan(prepared, scan, json);
    announcement = scan.announcement as ResendAnnouncement;
    if (!json) printAnnouncement(prepared, announcement);
    if (announcement.total === 0) return void console.log(json ? JSON.stringify({ status: 'nothing to send', changed: false, announcement }) : 'nothing to send again');
    if (!(await confirmed(flags, announcement))) {
      console.log(json ? JSON.stringify({ status: 'cancelled', changed: false }) : 'cancelled: nothing was sent');
      process.exitCode = 1;
      return;
    }
  }
  // The topics as found on the broker: a resume finds the same ones whatever the names given.
  const stored: PreparedReplay = { ...prepared, request: { ...prepared.request, topics: prepared.topics } };
  const job = await createReplayJob(env, stored, cliActor(), announcement);
  if (!json) console.log(`replay ${job.id} (${job.mode}${prepared.groupId ? ` through ${prepared.groupId}` : ''}${prepared.target ? ` to ${prepared.target}` : ''}): ${job.total} records in range; Ctrl-C stops it, resumable`);
  report(await runReplayJob(env, stored, job), job.total, json, announcement && { announcement });
}

/** Asks on a terminal; refused without --yes otherwise (a script must say it means it). */
async function confirmed(flags: ReplayFlags, announcement: ResendAnnouncement): Promise<boolean> {
  if (flags.yes) return true;
  if (!process.stdin.isTTY) throw new ConfigError('--resend sends messages again and asks for confirmation, but stdin is not a terminal: add --yes to confirm (check the counts with --dry-run first)');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Send these ${announcement.total} messages again? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function report(outcome: ReplayOutcome, total: number, json: boolean | undefined, extra: object = {}): void {
  const resume = `tidings replay resume ${outcome.id}`;
  if (outcome.status === 'interrupted') process.exitCode = 130;
  if (outcome.status === 'failed') process.exitCode = 1;
  if (json) {
    console.log(JSON.stringify({ ...outcome, total, ...extra, ...(outcome.status === 'done' ? {} : { resume }) }));
    return;
  }
  console.log(`replay ${outcome.id} ${outcome.status}: ${summary(outcome.counts)}`);
  if (outcome.status === 'interrupted') console.log(`stopped after ${outcome.counts.read} of ${total} records; to go on:\n  ${resume}`);
  if (outcome.status === 'failed') console.log(`failed: ${outcome.error}\nfix the cause, then go on with:\n  ${resume}`);
}

function summary(c: ReplayCounts): string {
  const parts = [`read ${c.read}`, `matched ${c.matched}`, `filtered out ${c.filteredOut}`, `not an event ${c.malformed}`];
  if (c.erased) parts.push(`of erased users ${c.erased}`);
  if (c.processed || c.skipped || c.otherLane) parts.push(`processed ${c.processed}`, `skipped (already processed) ${c.skipped}`);
  if (c.otherLane) parts.push(`other lane ${c.otherLane}`);
  if (c.heldBack || c.retried || c.deadLettered) parts.push(`held back ${c.heldBack}`, `retried ${c.retried}`, `dead-lettered ${c.deadLettered}`);
  if (c.resent || c.notYetProcessed) parts.push(`re-sent for ${c.resent} events`, `not processed yet ${c.notYetProcessed}`);
  const sends = Object.entries(c.sends).map(([channel, byStatus]) => `${channel} ${Object.entries(byStatus).map(([s, n]) => `${s} ${n}`).join('/')}`);
  if (sends.length > 0) parts.push(`messages: ${sends.join(', ')}`);
  if (c.republished) parts.push(`republished ${c.republished}`);
  return parts.join(', ');
}

function printScan(prepared: PreparedReplay, scan: ScanReport, json: boolean): void {
  if (json) return void console.log(JSON.stringify({ dryRun: true, mode: prepared.mode ?? null, ...scan }));
  console.log('dry run: nothing was changed');
  for (const p of scan.partitions) {
    const range = BigInt(p.to) > BigInt(p.from) ? `offsets ${p.from}..${BigInt(p.to) - 1n}` : 'nothing in range';
    const types = Object.entries(p.byType).map(([t, n]) => `${t} ${n}`);
    console.log(`  ${`${p.topic}:${p.partition}`.padEnd(36)} ${range.padEnd(24)} read ${String(p.read).padStart(6)}  matched ${String(p.matched).padStart(6)}${types.length > 0 ? `  (${types.join(', ')})` : ''}`);
  }
  const types = Object.entries(scan.counts.byType).map(([t, n]) => `${t} ${n}`);
  console.log(`  by event type: ${types.length > 0 ? types.join(', ') : 'none'}`);
  const c = scan.counts;
  console.log(`  read ${c.read}, matched ${c.matched}, filtered out ${c.filteredOut}, not an event ${c.malformed}${c.erased ? `, of erased users ${c.erased}` : ''}`);
  if (scan.alreadyProcessed !== undefined) console.log(`  already processed by ${prepared.groupId}: ${scan.alreadyProcessed} of ${c.matched} (a replay skips them)`);
  if (scan.announcement) printAnnouncement(prepared, scan.announcement);
}

function printAnnouncement(prepared: PreparedReplay, a: ResendAnnouncement): void {
  console.log(`--resend would send again, for ${a.events} events ${prepared.groupId} had processed by ${a.cutoff.toISOString()}:`);
  for (const [type, byChannel] of Object.entries(a.sends)) {
    console.log(`  ${type.padEnd(28)} ${Object.entries(byChannel).map(([channel, n]) => `${channel} ${n}`).join(', ')}`);
  }
  console.log(`  total ${a.total} messages`);
  const suppressed = Object.entries(a.suppressed).map(([channel, byReason]) => `${channel}: ${Object.entries(byReason).map(([r, n]) => `${r} ${n}`).join(', ')}`);
  if (suppressed.length > 0) console.log(`  not sent (as for the first send): ${suppressed.join('; ')}`);
  if (a.notYetProcessed > 0) console.log(`  ${a.notYetProcessed} matching events are not processed yet: the live group sends those`);
}

function describeJob(job: ReplayJob): string {
  const what = job.mode === 'republish' ? `to ${job.toTopic}` : `through ${job.groupId}`;
  return `${job.id}  ${job.status.padEnd(11)} ${job.mode.padEnd(9)} ${what}  ${job.counts.read}/${job.total} records  ${job.createdAt.toISOString()} by ${job.createdBy}${job.error ? `  error: ${job.error}` : ''}`;
}

/** A platform for the command, Ctrl-C wired to stop the replay cleanly (twice: at once), closed at the end. */
async function withPlatform(topicPrefix: string | undefined, work: (env: ReplayEnvironment) => Promise<void>, json?: boolean): Promise<void> {
  const platform = operatorPlatform({ topicPrefix }, 'tidings-replay');
  const stop = new AbortController();
  const onSignal = (): void => {
    process.stderr.write('stopping after the chunk in progress (Ctrl-C again to quit at once)\n');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await work({ platform, logger: createLogger('replay'), signal: stop.signal, progress: (label, total) => createProgress({ label, total, json }) });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await platform.close();
  }
}

function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${flag} must be a positive number (got "${value}")`);
  return n;
}

function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${flag} must be a positive whole number (got "${value}")`);
  return n;
}
