import type { Command } from 'commander';
import { startAnalyticsConsumer } from '../../../consumers/analytics';
import { startAuditConsumer } from '../../../consumers/audit';
import { startDeadLetterIndex } from '../../../consumers/dlq-index';
import { startNotificationConsumer } from '../../../consumers/notification';
import { startOutboxRelay } from '../../../consumers/outbox-relay';
import { startScheduler } from '../../../consumers/scheduler';
import { parseDuration, parseDurations } from '../../config/duration';
import { readEnv, resolveEndpoints } from '../../config/env';
import type { ConsumerRuntime } from '../../consumer/consumer-runtime';
import { DEFAULT_RETRY_DELAYS_MS } from '../../consumer/retry-topology';
import { ConfigError } from '../../errors';
import type { LaneName } from '../../notifications/routing';
import { createLogger, type Logger } from '../../observability/logger';
import type { MetricsRefresher } from '../../observability/metrics';
import { outboxGauges } from '../../outbox/outbox-metrics';
import { Platform } from '../../platform';
import { checkInboxRetention } from '../../retention/inbox-retention';
import { Pruner } from '../../retention/pruner';
import { retentionOptionsFromEnv, retentionSettings, type RetentionOptionsInput } from '../../retention/retention-options';
import { parsePort, parseWholeNumber } from '../parse-options';
import { startWorkerEndpoints, type WorkerEndpoints } from '../worker-endpoints';

/** A started group as `run` sees it: something to stop, and numbers to log when it has. */
interface RunningGroup {
  stop(): Promise<void>;
  stats(): object;
  /** The Kafka consumer group whose inbox rows this worker prunes; none for the outbox relay. */
  inboxGroup?: string;
  /** Readiness: the group has joined (the outbox relay: it has started). */
  joined(): boolean;
  /** The consumer groups whose lag the worker exports; none for the outbox relay. */
  groupIds: string[];
  /** Gauges read at each scrape (the outbox relay's backlog). */
  refreshers?: MetricsRefresher[];
}

interface RunOptions {
  lane?: string;
  groupId?: string;
  topicPrefix?: string;
  retryDelays?: string;
  sessionTimeout?: string;
  metricsPort?: string;
  partitionsConcurrency?: string;
  shutdownTimeout?: string;
}

/** How long a worker may take to stop after SIGTERM/SIGINT before it exits without waiting. */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/** `--partitions-concurrency`: 1 to 4 (the runtime's range), or undefined for the default. */
function partitionsConcurrencyOf(options: RunOptions): number | undefined {
  return options.partitionsConcurrency === undefined ? undefined : parseWholeNumber(options.partitionsConcurrency, '--partitions-concurrency', 1, 4);
}

const GROUPS: Record<string, (platform: Platform, options: RunOptions) => Promise<RunningGroup>> = {
  notification: async (platform, options) => {
    const consumer = await startNotificationConsumer(platform, {
      lane: parseLane(options.lane),
      groupId: options.groupId,
      retryDelaysMs: options.retryDelays === undefined ? undefined : parseDurations(options.retryDelays, '--retry-delays'),
      sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout'),
      partitionsConcurrency: partitionsConcurrencyOf(options),
    });
    return { ...runtimeParts(consumer.runtime), stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats }) };
  },
  'outbox-relay': async (platform) => {
    const relay = await startOutboxRelay(platform);
    let running = true;
    return {
      stop: () => {
        running = false;
        return relay.stop();
      },
      stats: () => relay.stats,
      joined: () => running,
      groupIds: [],
      refreshers: [outboxGauges(platform.db, createLogger('outbox-relay'))],
    };
  },
  audit: async (platform, options) => {
    const consumer = await startAuditConsumer(platform, { groupId: options.groupId, sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout') });
    return { ...runtimeParts(consumer.runtime), stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats, ...consumer.handler.stats }) };
  },
  analytics: async (platform, options) => {
    const consumer = await startAnalyticsConsumer(platform, { groupId: options.groupId, sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout') });
    return { ...runtimeParts(consumer.runtime), stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats }) };
  },
  'dlq-index': async (platform, options) => {
    const index = await startDeadLetterIndex(platform, { groupId: options.groupId, sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout') });
    return {
      stop: () => index.stop(),
      stats: () => ({ group: index.groupId, topics: index.topics, ...index.runtime?.stats, ...index.handler.stats }),
      inboxGroup: index.groupId,
      // No DLQ topic yet: nothing to join, and nothing to wait for.
      joined: () => index.runtime?.joined ?? index.topics.length === 0,
      groupIds: [index.groupId],
    };
  },
  scheduler: async (platform, options) => {
    const scheduler = await startScheduler(platform, {
      groupId: options.groupId,
      retryDelaysMs: options.retryDelays === undefined ? undefined : parseDurations(options.retryDelays, '--retry-delays'),
      sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout'),
    });
    return {
      ...runtimeParts(scheduler.runtime),
      stop: () => scheduler.stop(),
      stats: () => ({ group: scheduler.runtime.groupId, ...scheduler.runtime.stats, dispatcher: scheduler.dispatcher.stats }),
    };
  },
};

/** What every group on one consumer runtime reports the same way. */
function runtimeParts(runtime: ConsumerRuntime): Pick<RunningGroup, 'inboxGroup' | 'joined' | 'groupIds'> {
  return { inboxGroup: runtime.groupId, joined: () => runtime.joined, groupIds: [runtime.groupId] };
}

/**
 * The groups that keep an inbox: the topics their events come from, and whether they take
 * `--retry-delays` (the others run on the default tiers). The start-up check reads these.
 */
const INBOX_SOURCES: Record<string, { sources: (platform: Platform) => string[]; retryDelaysFlag: boolean }> = {
  notification: { sources: (p) => [p.topics.auth, p.topics.payment], retryDelaysFlag: true },
  audit: { sources: (p) => [p.topics.auth, p.topics.payment], retryDelaysFlag: false },
  analytics: { sources: (p) => [p.topics.auth, p.topics.payment], retryDelaysFlag: false },
  scheduler: { sources: (p) => [p.topics.payment], retryDelaysFlag: true },
  // Its records come from the DLQs of groups over these topics; an index row is keyed by its record's coordinates, so even a pruned inbox row indexes nothing twice.
  'dlq-index': { sources: (p) => [p.topics.auth, p.topics.payment], retryDelaysFlag: false },
};

export function registerRunCommand(program: Command): void {
  const names = Object.keys(GROUPS).join(', ');
  program
    .command('run <group>')
    .description(`run a consumer group until SIGTERM/SIGINT (groups: ${names})`)
    .option('--lane <lane>', 'notification lane: all (default), priority (payment confirmations, security alerts) or bulk')
    .option('--group-id <id>', 'Kafka consumer group id (default tidings.<group>)')
    .option('--topic-prefix <prefix>', 'prefix of every topic name (overrides TIDINGS_TOPIC_PREFIX)')
    .option('--retry-delays <list>', 'delay of each retry tier, e.g. 10s,1m,10m,1h (the default)')
    .option('--session-timeout <duration>', 'how long the broker waits for a silent instance, e.g. 30s (the default)')
    .option('--partitions-concurrency <n>', 'notification: partitions an instance works on at once, 1 (the default) to 4; each partition in order, its chunks one at a time')
    .option('--shutdown-timeout <duration>', 'how long stopping may take after SIGTERM/SIGINT before the worker exits without waiting, e.g. 30s (the default; overrides TIDINGS_SHUTDOWN_TIMEOUT)')
    .option('--metrics-port <port>', 'serve GET /metrics (Prometheus), /healthz and /readyz on this port, on every interface (overrides TIDINGS_METRICS_PORT; default: not served)')
    .addHelpText(
      'after',
      `
Every worker also prunes the operational tables past their retention (TIDINGS_RETENTION_*, see
\`tidings prune --help\`), and refuses to start when TIDINGS_RETENTION_INBOX is shorter than the
source topics' retention plus the retry tiers.

With --metrics-port (or TIDINGS_METRICS_PORT): /metrics has the group's counters, its lag read
from the broker every TIDINGS_LAG_METRICS_INTERVAL (default 15s), and the outbox relay's backlog;
/healthz is 200 while the process answers; /readyz is 200 once PostgreSQL, a Kafka broker and the
registry answer and the group has joined, else 503 with {ready: false, checks} naming what is not.

On SIGTERM/SIGINT the worker finishes the chunk in progress, commits and leaves the group. If that
takes longer than --shutdown-timeout (a broker or PostgreSQL that stopped answering), or a second
signal comes, it exits with status 1 without waiting: what it had not committed is processed again
by the group, once, as after a crash.

Examples:
  $ tidings run notification --retry-delays 5s,30s,5m
  $ tidings run notification --metrics-port 9464       then: curl localhost:9464/readyz`,
    )
    .action(async (group: string, options: RunOptions) => {
      const start = GROUPS[group];
      if (!start) throw new ConfigError(`unknown consumer group "${group}" (known: ${names})`);
      // Bad flags are refused before anything is contacted.
      if (group !== 'notification' && options.partitionsConcurrency !== undefined) throw new ConfigError(`--partitions-concurrency applies to the notification group only, not "${group}"`);
      partitionsConcurrencyOf(options);
      const logger = createLogger(`run:${group}`);
      // The flag overrides the env var and goes through the same validation.
      const env = readEnv(options.topicPrefix === undefined ? process.env : { ...process.env, TIDINGS_TOPIC_PREFIX: options.topicPrefix });
      const metricsPort = options.metricsPort === undefined ? env.TIDINGS_METRICS_PORT : parsePort(options.metricsPort, '--metrics-port');
      const lagInterval = env.TIDINGS_LAG_METRICS_INTERVAL === undefined ? undefined : parseDuration(env.TIDINGS_LAG_METRICS_INTERVAL, 'TIDINGS_LAG_METRICS_INTERVAL');
      const shutdownTimeoutMs =
        options.shutdownTimeout !== undefined
          ? parseDuration(options.shutdownTimeout, '--shutdown-timeout')
          : env.TIDINGS_SHUTDOWN_TIMEOUT === undefined
            ? DEFAULT_SHUTDOWN_TIMEOUT_MS
            : parseDuration(env.TIDINGS_SHUTDOWN_TIMEOUT, 'TIDINGS_SHUTDOWN_TIMEOUT');
      const platform = new Platform({ clientId: `tidings-${group}`, endpoints: resolveEndpoints(env) });
      const retention = retentionOptionsFromEnv(env);
      // A bad retention option, or inbox rows that would not outlive the records, stop the start before any event is read.
      const settings = retentionSettings(retention);
      let running: RunningGroup | undefined;
      // Up before the group starts: /healthz answers during a slow start, /readyz says what it waits for.
      const endpoints =
        metricsPort === undefined
          ? undefined
          : await startWorkerEndpoints({
              platform,
              port: metricsPort,
              portSetting: options.metricsPort === undefined ? 'TIDINGS_METRICS_PORT' : '--metrics-port',
              joined: () => running?.joined() ?? false,
              logger,
            });
      if (endpoints) logger.info({ url: `${endpoints.url}/metrics` }, 'serving /metrics, /healthz and /readyz');
      try {
        const inbox = INBOX_SOURCES[group];
        const pruneInbox =
          inbox !== undefined &&
          (await checkInboxRetention(
            platform.kafka,
            inbox.sources(platform),
            inbox.retryDelaysFlag && options.retryDelays !== undefined ? parseDurations(options.retryDelays, '--retry-delays') : DEFAULT_RETRY_DELAYS_MS,
            settings,
            logger,
          ));
        running = await start(platform, options);
        await runUntilSignalled(running, { platform, endpoints, lagInterval, group, pruneInbox, retention, logger, shutdownTimeoutMs });
      } finally {
        await endpoints?.close();
      }
    });
}

/**
 * Exports the group's metrics, prunes the operational tables, and waits for SIGTERM/SIGINT;
 * then stops the pruner, the group and the connections (the metrics server is closed last, by the caller).
 */
async function runUntilSignalled(
  running: RunningGroup,
  context: {
    platform: Platform;
    endpoints: WorkerEndpoints | undefined;
    lagInterval: number | undefined;
    group: string;
    pruneInbox: boolean;
    retention: RetentionOptionsInput;
    logger: Logger;
    shutdownTimeoutMs: number;
  },
): Promise<void> {
  const { platform, endpoints, group, logger } = context;
  for (const refresher of running.refreshers ?? []) endpoints?.refreshOnScrape(refresher);
  endpoints?.exportLag(running.groupIds, context.lagInterval);
  const pruner = new Pruner({
    ...context.retention,
    db: platform.db,
    inbox: context.pruneInbox && running.inboxGroup !== undefined ? [running.inboxGroup] : 'none',
    logger: createLogger(`retention:${group}`),
  });
  pruner.start();
  logger.info(running.stats(), 'running');
  await new Promise<void>((resolve) => {
    let step: string | undefined;
    const giveUp = (why: string): never => {
      // Nothing is lost: uncommitted work is redone by the group, its effects exactly once.
      logger.error({ waitingFor: step }, `${why}; exiting without waiting for ${step ?? 'it'}: what was not committed is processed again by the group`);
      process.exit(1);
    };
    const shutdown = (signal: string): void => {
      if (step !== undefined) giveUp(`a second ${signal} while stopping`);
      step = 'the pruner';
      logger.info({ signal, timeoutMs: context.shutdownTimeoutMs }, 'stopping: finishing the work in progress');
      const deadline = setTimeout(() => giveUp(`stopping took longer than the shutdown timeout (${context.shutdownTimeoutMs} ms)`), context.shutdownTimeoutMs);
      void pruner
        .stop()
        .then(() => {
          step = 'the consumer group (the chunk in progress, its commit, leaving the group)';
          return running.stop();
        })
        .then(() => {
          step = 'closing the connections';
          return platform.close();
        })
        .finally(() => {
          clearTimeout(deadline);
          resolve();
        });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
  logger.info(running.stats(), 'stopped');
}

function parseLane(value: string | undefined): LaneName | undefined {
  if (value === undefined) return undefined;
  if (value === 'all' || value === 'priority' || value === 'bulk') return value;
  throw new ConfigError(`--lane must be all, priority or bulk (got "${value}")`);
}
