import type { Command } from 'commander';
import { lagReport, type GroupLag } from '../../ops/inspect/consumer-lag';
import { EXIT_CODES_HELP, operatorPlatform, withOperatorAdmin } from '../operator-command';
import { formatTable } from '../table';

/** One group's lag as text: a row per topic and partition, then its DLQs and totals. */
export function formatGroupLag(group: GroupLag): string {
  const lines = [`group ${group.groupId} (${group.state}, ${group.members} member${group.members === 1 ? '' : 's'})`];
  const rows = group.topics.flatMap((t) => {
    const role = t.role === 'retry' ? `retry ${t.tier}` : 'source';
    // A retry tier is one row unless records wait in it (`--json` has every partition).
    if (t.role === 'retry' && t.lag === 0) return [[t.topic, role, 'all', '-', '-', '-', '0']];
    return t.partitions.map((p) => [t.topic, role, String(p.partition), p.committed === null ? 'none' : String(p.committed), String(p.start), String(p.end), String(p.lag)]);
  });
  lines.push(rows.length === 0 ? '  no committed offsets and no members' : formatTable([['TOPIC', 'ROLE', 'PARTITION', 'COMMITTED', 'START', 'END', 'LAG'], ...rows], '  '));
  const retryGroup = group.topics.find((t) => t.role === 'retry')?.heldBy;
  if (retryGroup !== undefined) lines.push(`  (retry-tier offsets are held by group ${retryGroup})`);
  for (const dlq of group.deadLetters) lines.push(`  DLQ ${dlq.topic}: ${dlq.depth} record${dlq.depth === 1 ? '' : 's'}`);
  lines.push(`  total: lag ${group.totals.lag}, in retry tiers ${group.totals.retryLag}, in DLQs ${group.totals.dlqDepth}`);
  return lines.join('\n');
}

export function registerLagCommand(program: Command): void {
  program
    .command('lag')
    .description('lag of consumer groups per topic and partition (committed offset, log end, lag), with their retry tiers and DLQ depth')
    .option('--group <id>', 'one group (default: every group; a <group>.retry group is shown within its group)')
    .option('--json', 'print {groups: [...], totals} as JSON')
    .addHelpText(
      'after',
      `
LAG is END − COMMITTED; a partition without a committed offset counts from its START (Tidings'
groups read from the beginning). Retry tiers (<topic>.<name>.retry.N) are read by the group
<group>.retry; the DLQ depth (<topic>.<name>.dlq) is END − START, the records it keeps.

Examples:
  $ tidings lag
  $ tidings lag --group tidings.notification
  $ tidings lag --group tidings.notification --json | jq '.totals.lag'
${EXIT_CODES_HELP}`,
    )
    .action(async (options: { group?: string; json?: boolean }) => {
      const platform = operatorPlatform({}, 'tidings-lag');
      const report = await withOperatorAdmin(platform, (admin) => lagReport(admin, options.group === undefined ? {} : { groupId: options.group }));
      if (options.json) {
        console.log(JSON.stringify(report));
        return;
      }
      if (report.groups.length === 0) {
        console.log('no consumer groups');
        return;
      }
      console.log(report.groups.map(formatGroupLag).join('\n\n'));
      if (report.groups.length > 1) console.log(`\nall groups: lag ${report.totals.lag}, in retry tiers ${report.totals.retryLag}, in DLQs ${report.totals.dlqDepth}`);
    });
}
