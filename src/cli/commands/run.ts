import type { Command } from 'commander';
import { startNotificationConsumer } from '../../../consumers/notification';
import { createLogger } from '../../observability/logger';
import { Platform } from '../../platform';

const GROUPS = ['notification'] as const;

export function registerRunCommand(program: Command): void {
  program
    .command('run <group>')
    .description(`run a consumer group until SIGTERM/SIGINT (groups: ${GROUPS.join(', ')})`)
    .action(async (group: string) => {
      if (!(GROUPS as readonly string[]).includes(group)) {
        throw new Error(`unknown consumer group "${group}" (known: ${GROUPS.join(', ')})`);
      }
      const logger = createLogger(`run:${group}`);
      const platform = new Platform({ clientId: `tidings-${group}` });
      const consumer = await startNotificationConsumer(platform);
      logger.info({ group: consumer.runtime.groupId }, 'consumer running');
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string): void => {
          logger.info({ signal }, 'stopping: finishing the chunk in progress');
          void consumer
            .stop()
            .then(() => platform.close())
            .finally(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      logger.info(consumer.runtime.stats, 'stopped');
    });
}
