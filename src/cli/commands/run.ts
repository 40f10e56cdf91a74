import type { Command } from 'commander';
import { startAnalyticsConsumer } from '../../../consumers/analytics';
import { startAuditConsumer } from '../../../consumers/audit';
import { startNotificationConsumer } from '../../../consumers/notification';
import { startOutboxRelay } from '../../../consumers/outbox-relay';
import { startScheduler } from '../../../consumers/scheduler';
import { parseDuration, parseDurations } from '../../config/duration';
import { readEnv, resolveEndpoints } from '../../config/env';
import { ConfigError } from '../../errors';
import type { LaneName } from '../../notifications/routing';
import { createLogger } from '../../observability/logger';
import { Platform } from '../../platform';

/** A started group as `run` sees it: something to stop, and numbers to log when it has. */
interface RunningGroup {
  stop(): Promise<void>;
  stats(): object;
}

interface RunOptions {
  lane?: string;
  groupId?: string;
  topicPrefix?: string;
  retryDelays?: string;
  sessionTimeout?: string;
}

const GROUPS: Record<string, (platform: Platform, options: RunOptions) => Promise<RunningGroup>> = {
  notification: async (platform, options) => {
    const consumer = await startNotificationConsumer(platform, {
      lane: parseLane(options.lane),
      groupId: options.groupId,
      retryDelaysMs: options.retryDelays === undefined ? undefined : parseDurations(options.retryDelays, '--retry-delays'),
      sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout'),
    });
    return { stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats }) };
  },
  'outbox-relay': async (platform) => {
    const relay = await startOutboxRelay(platform);
    return { stop: () => relay.stop(), stats: () => relay.stats };
  },
  audit: async (platform, options) => {
    const consumer = await startAuditConsumer(platform, { groupId: options.groupId, sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout') });
    return { stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats, ...consumer.handler.stats }) };
  },
  analytics: async (platform, options) => {
    const consumer = await startAnalyticsConsumer(platform, { groupId: options.groupId, sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout') });
    return { stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats }) };
  },
  scheduler: async (platform, options) => {
    const scheduler = await startScheduler(platform, {
      groupId: options.groupId,
      retryDelaysMs: options.retryDelays === undefined ? undefined : parseDurations(options.retryDelays, '--retry-delays'),
      sessionTimeoutMs: options.sessionTimeout === undefined ? undefined : parseDuration(options.sessionTimeout, '--session-timeout'),
    });
    return { stop: () => scheduler.stop(), stats: () => ({ group: scheduler.runtime.groupId, ...scheduler.runtime.stats, dispatcher: scheduler.dispatcher.stats }) };
  },
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
    .addHelpText('after', '\nExample:\n  $ tidings run notification --retry-delays 5s,30s,5m')
    .action(async (group: string, options: RunOptions) => {
      const start = GROUPS[group];
      if (!start) throw new ConfigError(`unknown consumer group "${group}" (known: ${names})`);
      const logger = createLogger(`run:${group}`);
      // The flag overrides the env var and goes through the same validation.
      const env = readEnv(options.topicPrefix === undefined ? process.env : { ...process.env, TIDINGS_TOPIC_PREFIX: options.topicPrefix });
      const platform = new Platform({ clientId: `tidings-${group}`, endpoints: resolveEndpoints(env) });
      const running = await start(platform, options);
      logger.info(running.stats(), 'running');
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string): void => {
          logger.info({ signal }, 'stopping: finishing the work in progress');
          void running
            .stop()
            .then(() => platform.close())
            .finally(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      logger.info(running.stats(), 'stopped');
    });
}

function parseLane(value: string | undefined): LaneName | undefined {
  if (value === undefined) return undefined;
  if (value === 'all' || value === 'priority' || value === 'bulk') return value;
  throw new ConfigError(`--lane must be all, priority or bulk (got "${value}")`);
}
