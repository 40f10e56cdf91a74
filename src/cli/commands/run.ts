import type { Command } from 'commander';
import { startNotificationConsumer } from '../../../consumers/notification';
import { startOutboxRelay } from '../../../consumers/outbox-relay';
import { ConfigError } from '../../errors';
import { createLogger } from '../../observability/logger';
import { Platform } from '../../platform';

/** A started group as `run` sees it: something to stop, and numbers to log when it has. */
interface RunningGroup {
  stop(): Promise<void>;
  stats(): object;
}

const GROUPS: Record<string, (platform: Platform) => Promise<RunningGroup>> = {
  notification: async (platform) => {
    const consumer = await startNotificationConsumer(platform);
    return { stop: () => consumer.stop(), stats: () => ({ group: consumer.runtime.groupId, ...consumer.runtime.stats }) };
  },
  'outbox-relay': async (platform) => {
    const relay = await startOutboxRelay(platform);
    return { stop: () => relay.stop(), stats: () => relay.stats };
  },
};

export function registerRunCommand(program: Command): void {
  const names = Object.keys(GROUPS).join(', ');
  program
    .command('run <group>')
    .description(`run a consumer group until SIGTERM/SIGINT (groups: ${names})`)
    .action(async (group: string) => {
      const start = GROUPS[group];
      if (!start) throw new ConfigError(`unknown consumer group "${group}" (known: ${names})`);
      const logger = createLogger(`run:${group}`);
      const platform = new Platform({ clientId: `tidings-${group}` });
      const running = await start(platform);
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
