import type { Command } from 'commander';
import { paymentRetentionMs, readEnv } from '../../config/env';
import { alignCopies, eventTopicSpecs, ensureTopics } from '../../kafka/topics';
import { describeTopics, topicFamily, type TopicDescription } from '../../ops/inspect/topic-description';
import { Platform } from '../../platform';
import { EXIT_CODES_HELP, operatorPlatform, withOperatorAdmin } from '../operator-command';
import { formatTable } from '../table';

function formatTopic(t: TopicDescription): string {
  const configs = Object.entries(t.configs).map(([name, c]) => `${name}=${c.value ?? '?'}${c.source === 'topic' ? '' : ` (${c.source})`}`);
  const rows = t.partitions.map((p) => [String(p.partition), String(p.leader), p.replicas.join(','), p.isr.join(','), String(p.start), String(p.end)]);
  return [
    `${t.topic}: ${t.partitions.length} partition${t.partitions.length === 1 ? '' : 's'}, replication ${t.replicationFactor}, ${t.records} record${t.records === 1 ? '' : 's'} kept${t.underReplicated.length > 0 ? `, UNDER-REPLICATED: ${t.underReplicated.join(',')}` : ''}`,
    `  ${configs.join('  ')}`,
    formatTable([['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'START', 'END'], ...rows], '  '),
  ].join('\n');
}

export function registerTopicCommands(program: Command): void {
  const topics = program.command('topics').description('Kafka topics of the event contract');

  topics
    .command('create')
    .description('create auth.events and payment.events if missing; set the short retention of payment.events and of its retry tiers and DLQs')
    .option('--partitions <n>', 'partitions per topic', '6')
    .addHelpText(
      'after',
      `
payment.events keeps its records for TIDINGS_PAYMENT_RETENTION (default 7d), set on the topic
whether it is new or not; its existing retry tiers and DLQs (every group's) are lowered to it,
and workers create new ones with it. A retry tier keeps at least three times its delay.

Examples:
  $ tidings topics create
  $ TIDINGS_PAYMENT_RETENTION=3d tidings topics create --partitions 12`,
    )
    .action(async (opts: { partitions: string }) => {
      const partitions = Number(opts.partitions);
      if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`--partitions must be a positive integer (got "${opts.partitions}")`);
      const setting = readEnv().TIDINGS_PAYMENT_RETENTION;
      const retentionMs = paymentRetentionMs();
      const platform = new Platform();
      const admin = platform.kafka.admin();
      await admin.connect();
      try {
        const created = await ensureTopics(admin, eventTopicSpecs(platform.topics, partitions, retentionMs));
        const aligned = await alignCopies(admin, [platform.topics.auth, platform.topics.payment]);
        console.log(created.length ? `created: ${created.join(', ')}` : 'topics already exist');
        console.log(`${platform.topics.payment} keeps records for ${setting ?? '7d'} (retention.ms ${retentionMs})`);
        if (aligned.length > 0) console.log(`retention lowered to their source's: ${aligned.join(', ')}`);
      } finally {
        await admin.disconnect();
      }
    });

  topics
    .command('describe [topics...]')
    .description('partitions (leader, replicas, in-sync replicas, start and end offsets) and key configs (retention.ms, cleanup.policy, max.message.bytes) of topics')
    .option('--json', 'print the topics as a JSON array')
    .option('--topic-prefix <prefix>', 'prefix of the contract topics (overrides TIDINGS_TOPIC_PREFIX)')
    .addHelpText(
      'after',
      `
With no topic named: the contract topics and every topic derived from them (retry tiers, DLQs).
A config's source is shown when it is not set on the topic: (broker) or (default).

Examples:
  $ tidings topics describe
  $ tidings topics describe payment.events payment.events.notification.dlq
  $ tidings topics describe payment.events --json | jq '.[0].configs["retention.ms"].value'
${EXIT_CODES_HELP}`,
    )
    .action(async (names: string[], options: { json?: boolean; topicPrefix?: string }) => {
      const platform = operatorPlatform(options, 'tidings-topics');
      const described = await withOperatorAdmin(platform, async (admin) =>
        describeTopics(admin, names.length > 0 ? names : await topicFamily(admin, [platform.topics.auth, platform.topics.payment])),
      );
      if (options.json) {
        console.log(JSON.stringify(described));
        return;
      }
      console.log(described.length === 0 ? 'no contract topics yet: `tidings topics create` creates them' : described.map(formatTopic).join('\n\n'));
    });
}
