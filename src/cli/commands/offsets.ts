import type { Command } from 'commander';
import type { Admin } from 'kafkajs';
import { z } from 'zod';
import { parseOptions } from '../../config/options';
import { ConfigError } from '../../errors';
import { GroupActiveError } from '../../ops/inspect/admin-errors';
import { applyOffsetReset, describeTarget, planOffsetReset, type OffsetResetPlan, type ResetTarget } from '../../ops/inspect/offset-reset';
import { cliActor, recordOperatorAction } from '../../ops/operator-actions';
import type { Platform } from '../../platform';
import { RESET_EXIT_CODES_HELP, exitRefused, operatorPlatform, withOperatorAdmin, withOperatorDb } from '../operator-command';
import { formatTable } from '../table';
import { parseTimePoint } from '../time-range';

const FLAGS: Record<string, string> = {
  group: '--group',
  topic: '--topic',
  toOffset: '--to-offset',
  shiftBy: '--shift-by',
  partitions: '--partitions',
  reason: '--reason',
};

const resetSchema = z.object({
  group: z.string().trim().min(1, { error: 'must name a consumer group' }),
  topic: z.string().trim().min(1, { error: 'must name a topic' }),
  toDatetime: z.string().optional(),
  toEarliest: z.boolean().optional(),
  toLatest: z.boolean().optional(),
  toOffset: z
    .string()
    .regex(/^\d+$/, { error: 'must be an offset (a whole number, 0 or more)' })
    .transform(Number)
    .optional(),
  shiftBy: z
    .string()
    .regex(/^[+-]?\d+$/, { error: 'must be a whole number of records, e.g. -100 (back) or 50 (forward)' })
    .transform(Number)
    .optional(),
  partitions: z
    .string()
    .regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, { error: 'must be partition numbers separated by commas, e.g. 0,1,4' })
    .transform((s) => [...new Set(s.split(',').map((p) => Number(p.trim())))].sort((a, b) => a - b))
    .optional(),
  execute: z.boolean().optional(),
  newGroup: z.boolean().optional(),
  reason: z.string().trim().min(1, { error: 'must not be empty' }).optional(),
  json: z.boolean().optional(),
});

type ResetOptions = z.output<typeof resetSchema>;

function targetOf(options: ResetOptions): ResetTarget {
  const given = [
    options.toDatetime !== undefined && '--to-datetime',
    options.toEarliest && '--to-earliest',
    options.toLatest && '--to-latest',
    options.toOffset !== undefined && '--to-offset',
    options.shiftBy !== undefined && '--shift-by',
  ].filter((f): f is string => typeof f === 'string');
  if (given.length !== 1) {
    throw new ConfigError(
      `${given.length === 0 ? 'say where to move the offsets' : `${given.join(' and ')} cannot be combined`}: pass one of --to-datetime <time> | --to-earliest | --to-latest | --to-offset <n> | --shift-by <n>`,
    );
  }
  if (options.toDatetime !== undefined) return { kind: 'datetime', atMs: parseTimePoint(options.toDatetime, '--to-datetime') };
  if (options.toEarliest) return { kind: 'earliest' };
  if (options.toLatest) return { kind: 'latest' };
  if (options.toOffset !== undefined) return { kind: 'offset', offset: options.toOffset };
  return { kind: 'shift', by: options.shiftBy ?? 0 };
}

function formatPlan(plan: OffsetResetPlan, executed: boolean): string {
  const rows = plan.partitions.map((p) => [
    String(p.partition),
    p.current === null ? 'none' : String(p.current),
    `${String(p.next)}${p.clamped ? ' (clamped)' : ''}`,
    String(p.start),
    String(p.end),
    String(p.lagAfter),
  ]);
  const head = executed
    ? `reset group ${plan.groupId} on ${plan.topic}, ${describeTarget(plan.target)}:`
    : `DRY RUN (nothing changed; add --execute to apply): group ${plan.groupId} on ${plan.topic}, ${describeTarget(plan.target)}:`;
  const lines = [head, formatTable([['PARTITION', 'CURRENT', 'NEW', 'START', 'END', 'LAG AFTER'], ...rows], '  ')];
  if (plan.partitions.some((p) => p.clamped)) lines.push('  (clamped: the offset asked for is outside the records the partition keeps, so the nearest end is used)');
  if (!executed && plan.activeMembers.length > 0) {
    lines.push(`  NOTE: the group is running (${plan.activeMembers.map((m) => `${m.clientId} on ${m.host}`).join('; ')}): --execute will be refused until its consumers are stopped`);
  }
  return lines.join('\n');
}

/** Applies the plan and records it in one transaction: no reset without its record, no record of a reset that failed. */
function executeReset(platform: Platform, admin: Admin, plan: OffsetResetPlan, reason: string | undefined): Promise<string> {
  return withOperatorDb(platform, (db) =>
    db.transaction(async (trx) => {
      const { id } = await recordOperatorAction(trx, {
        actor: cliActor(),
        action: 'offsets.reset',
        target: plan.groupId,
        ...(reason === undefined ? {} : { reason }),
        details: { topic: plan.topic, to: describeTarget(plan.target), target: plan.target, partitions: plan.partitions.map((p) => ({ partition: p.partition, from: p.current, to: p.next })) },
      });
      await applyOffsetReset(admin, plan);
      return id;
    }),
  );
}

export function registerOffsetCommands(program: Command): void {
  const offsets = program.command('offsets').description("consumer groups' committed offsets");

  offsets
    .command('reset')
    .description('move a stopped group\'s committed offsets on one topic: to a time, the earliest or latest record, an offset, or by a number of records. A dry run unless --execute')
    .requiredOption('--group <id>', 'the consumer group (it must have no running members to --execute)')
    .requiredOption('--topic <topic>', 'the topic whose offsets move (a retry tier belongs to <group>.retry)')
    .option('--to-datetime <time>', 'the first record at or after a time: ISO-8601 (2026-12-01T10:00:00Z), "now", or relative (-2h, -30m, -7d)')
    .option('--to-earliest', 'the first record each partition keeps')
    .option('--to-latest', 'the end of each partition: skip every record not yet read')
    .option('--to-offset <n>', 'this offset on every chosen partition (clamped to what the partition keeps)')
    .option('--shift-by <n>', 'move by n records from the committed offset (negative: back, to read again)')
    .option('--partitions <list>', 'only these partitions, e.g. 0,1 (default: all)')
    .option('--execute', 'apply the reset (default: print what would change and change nothing)')
    .option('--reason <text>', 'why, kept with the record of the reset')
    .option('--new-group', 'allow a group the brokers do not know yet (to set where a new group starts)')
    .option('--json', 'print the plan (and whether it was executed) as JSON')
    .addHelpText(
      'after',
      `
The group must be stopped to execute (as Kafka's kafka-consumer-groups requires): a running
member would overwrite the new offsets with its next commit. Stop its \`tidings run\`
processes, check \`tidings groups describe <group>\` shows no members, then execute. An executed
reset is recorded in operator_actions (who: TIDINGS_ACTOR or user@host, what, why, when).
Moving a Tidings group back re-reads records its inbox already holds: they are skipped, not
processed again (\`tidings replay\` processes chosen events again).

Examples:
  $ tidings offsets reset --group tidings.notification --topic payment.events --to-datetime -2h
  $ tidings offsets reset --group tidings.notification --topic payment.events --to-datetime 2026-12-01T10:00:00Z --execute --reason "skip the test events published by mistake before 10:00"
  $ tidings offsets reset --group tidings.audit --topic auth.events --shift-by -100 --partitions 0,1 --execute
  $ tidings offsets reset --group tidings.notification.retry --topic payment.events.notification.retry.1 --to-latest --execute
${RESET_EXIT_CODES_HELP}`,
    )
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions('offsets reset', resetSchema, raw, (path) => FLAGS[path] ?? path);
      const target = targetOf(options);
      const platform = operatorPlatform({}, 'tidings-offsets');
      try {
        const result = await withOperatorAdmin(platform, async (admin) => {
          const plan = await planOffsetReset(admin, { groupId: options.group, topic: options.topic, target, partitions: options.partitions, newGroup: options.newGroup === true });
          if (!options.execute) return { plan, executed: false };
          const actionId = await executeReset(platform, admin, plan, options.reason);
          return { plan, executed: true, actionId };
        });
        if (options.json) console.log(JSON.stringify(result));
        else console.log(`${formatPlan(result.plan, result.executed)}${'actionId' in result ? `\nrecorded as operator action ${result.actionId}` : ''}`);
      } catch (error) {
        if (error instanceof GroupActiveError) {
          exitRefused(error);
          return;
        }
        throw error;
      }
    });
}
