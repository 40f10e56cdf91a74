import type { Command } from 'commander';
import { eventTopicSpecs, ensureTopics } from '../../kafka/topics';
import { Platform } from '../../platform';

export function registerTopicCommands(program: Command): void {
  const topics = program.command('topics').description('Kafka topics of the event contract');

  topics
    .command('create')
    .description('create auth.events and payment.events if missing')
    .option('--partitions <n>', 'partitions per topic', '6')
    .action(async (opts: { partitions: string }) => {
      const partitions = Number(opts.partitions);
      if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`--partitions must be a positive integer (got "${opts.partitions}")`);
      const platform = new Platform();
      const admin = platform.kafka.admin();
      await admin.connect();
      try {
        const created = await ensureTopics(admin, eventTopicSpecs(platform.topics, partitions));
        console.log(created.length ? `created: ${created.join(', ')}` : 'topics already exist');
      } finally {
        await admin.disconnect();
      }
    });
}
