import { z } from 'zod';
import { parseTimeRange } from '../../cli/time-range';
import { ConfigError, TidingsError, describe } from '../../errors';
import type { Platform } from '../../platform';
import { prepareReplay } from '../../ops/replay/prepared-replay';
import { ReplayJobs } from '../../ops/replay/replay-jobs';
import { REPLAY_GROUPS, parseReplayRequest } from '../../ops/replay/replay-request';
import { createReplayJob, runReplayJob } from '../../ops/replay/replay-runner';
import { actorOf, route, type Route, type RouteDeps, type RouteResult } from '../route';
import { id, limitField, oneOf } from './common';

const jobParams = z.object({ id: z.uuid({ error: 'must be a replay job id (a UUID)' }) });

const startBody = z
  .object({
    group: z.enum(REPLAY_GROUPS, { error: oneOf('group', REPLAY_GROUPS) }).optional(),
    lane: z.enum(['all', 'priority', 'bulk'], { error: oneOf('lane', ['all', 'priority', 'bulk']) }).optional(),
    toTopic: id.optional(),
    topics: z.array(id).max(20).optional(),
    from: z.string({ error: 'must be a time: ISO-8601, "now" or -2h' }).optional(),
    to: z.string({ error: 'must be a time: ISO-8601, "now" or -2h' }).optional(),
    offsets: z.string().min(1).max(1000).optional(),
    types: z.array(id).max(50).optional(),
    user: id.optional(),
    rate: z.number({ error: 'must be a number of events per second' }).positive({ error: 'must be a number of events per second' }).optional(),
    reason: z.string().trim().min(1).max(1000).optional(),
    resend: z.literal(false, { error: 're-sending is for the CLI only: `tidings replay --resend` shows what it would send and asks first' }).optional(),
  })
  .strict();

const noProgress = { tick: () => undefined, done: () => undefined };

/** A request refused for what it says (a --from after --to, an unknown topic): 400 with the reason. */
function refused(error: unknown): RouteResult {
  if (error instanceof ConfigError) return { status: 400, body: { error: 'invalid_request', message: error.message } };
  throw error;
}

/**
 * Admin: replay jobs. Started here, a job runs in this API process (reprocess through a group,
 * or republish to a topic) and is saved after every chunk like one `tidings replay` runs;
 * cancel stops it after the chunk in progress (`interrupted`: `tidings replay resume <id>`
 * goes on). Re-sending notifications is left to the CLI, which shows what it would send
 * and asks first.
 */
export function replayRoutes({ db, platform, logger, maxPageSize }: RouteDeps): Route[] {
  const jobs = new ReplayJobs(db);
  /** Jobs this process runs, by id: what cancel aborts, and when the job has stopped. */
  const running = new Map<string, { abort: AbortController; stopped: Promise<void> }>();
  const needPlatform = (): Platform => {
    if (!platform) throw new TidingsError('KAFKA_NOT_CONFIGURED', 'replays need Kafka: this API runs on PostgreSQL alone');
    return platform;
  };
  const view = (job: NonNullable<Awaited<ReturnType<ReplayJobs['get']>>>) => ({ ...job, done: job.counts.read, startedAt: job.createdAt, actor: job.createdBy, runningHere: running.has(job.id) });

  return [
    route({
      method: 'get',
      path: '/admin/replays',
      operationId: 'listReplayJobs',
      tag: 'replay',
      summary: 'Replay jobs, newest first, with their progress',
      access: { kind: 'key', scope: 'read' },
      query: z.object({ limit: limitField(maxPageSize) }),
      ok: '`{jobs: [{id, mode, status, done, total, counts, startedAt, actor, runningHere, …}]}`',
      async handle({ query }) {
        return { body: { jobs: (await jobs.list({ limit: query.limit })).map(view) } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/replays/:id',
      operationId: 'getReplayJob',
      tag: 'replay',
      summary: 'One replay job: its request, positions, counts and status',
      access: { kind: 'key', scope: 'read' },
      params: jobParams,
      ok: '`{job}`',
      otherResponses: { 404: 'No such replay job.' },
      async handle({ params }) {
        const job = await jobs.get(params.id);
        return job ? { body: { job: view(job) } } : { status: 404, body: { error: 'not_found', message: `no replay job ${params.id}` } };
      },
    }),
    route({
      method: 'post',
      path: '/admin/replays',
      operationId: 'startReplayJob',
      tag: 'replay',
      summary: 'Starts a replay in this process: reprocess a range through a group (`group`) or republish it (`toTopic`); answers at once with the job',
      description: 'The range is `from`/`to` (ISO-8601, `now`, or `-2h`) or `offsets` of one topic (`0:100-200,1:50-`). Re-sending notifications (`tidings replay --resend`) is CLI only: it shows what it would send and asks first.',
      access: { kind: 'key', scope: 'operate' },
      body: startBody,
      ok: 'Not used: a started job answers 202 `{job}`.',
      otherResponses: { 202: 'Started: `{job}`; follow it with GET /admin/replays/:id.' },
      async handle({ body, principal }) {
        let prepared;
        let job;
        try {
          const range = parseTimeRange({ from: body.from, to: body.to });
          const request = parseReplayRequest({ group: body.group, lane: body.lane, toTopic: body.toTopic, topics: body.topics, offsets: body.offsets, types: body.types, user: body.user, rate: body.rate, reason: body.reason, ...range });
          prepared = await prepareReplay(needPlatform(), request);
        } catch (error) {
          return refused(error);
        }
        const abort = new AbortController();
        const env = { platform: needPlatform(), logger: logger.child({ component: 'replay' }), signal: abort.signal, progress: () => noProgress };
        try {
          job = await createReplayJob(env, prepared, actorOf(principal));
        } catch (error) {
          await prepared.close();
          throw error;
        }
        const started = job;
        const stopped = runReplayJob(env, prepared, started)
          .then((outcome) => logger.info({ replayId: started.id, status: outcome.status, counts: outcome.counts }, 'replay job ended'))
          .catch((error: unknown) => logger.error({ replayId: started.id, error: describe(error) }, 'replay job failed'))
          .finally(async () => {
            running.delete(started.id);
            await prepared.close().catch(() => undefined);
          });
        running.set(started.id, { abort, stopped });
        return { status: 202, body: { job: view(job) } };
      },
    }),
    route({
      method: 'post',
      path: '/admin/replays/:id/cancel',
      operationId: 'cancelReplayJob',
      tag: 'replay',
      summary: 'Stops a replay this process runs after the chunk in progress; it can be resumed (`tidings replay resume <id>`)',
      access: { kind: 'key', scope: 'operate' },
      params: jobParams,
      ok: '`{job}` with status `interrupted`',
      otherResponses: { 404: 'No such replay job.', 409: 'The job is not running in this process (finished, or run by `tidings replay` elsewhere: stop it there with Ctrl-C).' },
      async handle({ params }) {
        const run = running.get(params.id);
        if (!run) {
          const job = await jobs.get(params.id);
          if (!job) return { status: 404, body: { error: 'not_found', message: `no replay job ${params.id}` } };
          return { status: 409, body: { error: 'conflict', message: `replay job ${params.id} is ${job.status}${job.status === 'running' ? ' in another process (started by `tidings replay`): stop it there with Ctrl-C' : ''}`, status: job.status } };
        }
        run.abort.abort();
        // It stops after the chunk in progress, saved: the answer says where it stopped.
        await run.stopped;
        const job = await jobs.get(params.id);
        return { body: { job: job ? view(job) : null } };
      },
    }),
  ];
}
