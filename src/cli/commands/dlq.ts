import type { Command } from 'commander';
import { z } from 'zod';
import { parseOptions } from '../../config/options';
import { isUndefinedTable } from '../../db/database';
import { ConfigError } from '../../errors';
import { EVENT_TYPES } from '../../events/generated';
import { cliActor } from '../../ops/operator-actions';
import { discardDeadLetters } from '../../ops/dlq/discard';
import { DEAD_LETTER_STATES, listDeadLetters, type DeadLetter, type DeadLetterFilter } from '../../ops/dlq/dead-letter-store';
import { inspectDeadLetter, type DeadLetterView } from '../../ops/dlq/inspect';
import { DeadLetterRedriver } from '../../ops/dlq/redrive';
import { Platform } from '../../platform';
import { createProgress, type Progress } from '../progress';
import { parseTimeRange } from '../time-range';
import { formatTable } from '../table';

interface FilterFlags {
  topic?: string;
  group?: string;
  errorClass?: string;
  type?: string;
  user?: string;
  from?: string;
  to?: string;
  state?: string;
}

const filterSchema = z.object({
  topic: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
  errorClass: z.string().min(1).optional(),
  type: z.enum(EVENT_TYPES as [string, ...string[]], { error: `must be an event type: ${EVENT_TYPES.join(', ')}` }).optional(),
  user: z.string().min(1).optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  state: z.enum(DEAD_LETTER_STATES, { error: `must be ${DEAD_LETTER_STATES.join(', ')}` }).optional(),
});

const FLAG_NAMES: Record<string, string> = { errorClass: '--error-class', ratePerSecond: '--rate' };
const flag = (path: string): string => FLAG_NAMES[path] ?? `--${path}`;

function parseFilter(command: string, flags: FilterFlags): DeadLetterFilter {
  // Unknown keys (the command's other flags) are left out by the schema.
  const f = parseOptions(command, filterSchema, flags, flag);
  const { fromMs, toMs } = parseTimeRange({ from: f.from, to: f.to });
  return { topic: f.topic, group: f.group, errorClass: f.errorClass, eventType: f.type, userId: f.user, fromMs, toMs, state: f.state };
}

function addFilterOptions(command: Command): Command {
  return command
    .option('--topic <topic>', 'source topic (payment.events) or DLQ topic (payment.events.notification.dlq)')
    .option('--group <group-id>', 'consumer group that dead-lettered it, e.g. tidings.notification')
    .option('--error-class <class>', 'error class, e.g. AllProvidersFailedError, MalformedMessageError')
    .option('--type <event-type>', 'event type, e.g. PAYMENT_SUCCEEDED')
    .option('--user <id>', 'user id')
    .option('--from <time>', 'dead-lettered at or after: ISO-8601, now, or relative such as -2h, -30m, -7d')
    .option('--to <time>', 'dead-lettered at or before (same forms)')
    .option('--state <state>', `${DEAD_LETTER_STATES.join(', ')}`);
}

/** Dead letter ids are the index's numbers, as `tidings dlq list` shows them. */
function parseIds(values: readonly string[]): string[] {
  for (const v of values) {
    if (!/^[1-9]\d{0,18}$/.test(v)) throw new ConfigError(`"${v}" is not a dead letter id: ids are the numbers in the first column of \`tidings dlq list\``);
  }
  return [...values];
}

async function withPlatform<T>(work: (platform: Platform) => Promise<T>): Promise<T> {
  const platform = new Platform({ clientId: 'tidings-dlq' });
  try {
    return await work(platform);
  } catch (error) {
    if (isUndefinedTable(error)) throw new ConfigError(`the dead-letter index is not in this database yet: run \`tidings migrate\`, then \`tidings run dlq-index\` (${(error as Error).message})`, error);
    throw error;
  } finally {
    await platform.close();
  }
}

export function registerDlqCommands(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('review dead letters: list, show (personal data masked), redrive, discard; needs `tidings run dlq-index` running')
    .addHelpText(
      'after',
      `
The index (table dead_letters) is kept by the dead-letter index group, \`tidings run dlq-index\`,
which reads every DLQ topic (<source>.<group>.dlq). The records stay in Kafka; \`show\` and
\`redrive\` read them from there. Every redrive and discard is recorded (who, what, why, when).

Examples:
  $ tidings dlq list --type PAYMENT_SUCCEEDED --from -24h
  $ tidings dlq show 42
  $ tidings dlq redrive 42
  $ tidings dlq redrive --all-matching --error-class AllProvidersFailedError --from -2h --rate 20
  $ tidings dlq discard 43 44 --reason "test traffic from the staging load test"`,
    );

  addFilterOptions(dlq.command('list').description('dead letters matching the filters, newest first'))
    .option('--limit <n>', 'at most n rows (1 to 10000)', '50')
    .option('--json', 'print the rows as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ tidings dlq list
  $ tidings dlq list --group tidings.notification --error-class AllProvidersFailedError --state parked
  $ tidings dlq list --user u-42 --from 2026-12-01 --to 2026-12-02 --json`,
    )
    .action(async (flags: FilterFlags & { limit: string; json?: boolean }) => {
      const filter = parseFilter('dlq list', flags);
      const { limit } = parseOptions('dlq list', z.object({ limit: z.coerce.number().int().min(1).max(10_000) }), { limit: flags.limit }, flag);
      const rows = await withPlatform((platform) => listDeadLetters(platform.db, filter, limit));
      if (flags.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      printList(rows, limit);
    });

  dlq
    .command('show <id>')
    .description('one dead letter: where it is, why it failed, what was done with it, its headers and payload (personal fields masked)')
    .option('--json', 'print it as JSON')
    .addHelpText(
      'after',
      `
Which fields are personal is read from the event's schema ("tidings.personal": true in
schemas/**/*.avsc). A value that does not decode is not printed (nothing says which bytes are
personal); its size and wire header are.

Examples:
  $ tidings dlq show 42
  $ tidings dlq show 42 --json | jq .payload`,
    )
    .action(async (id: string, flags: { json?: boolean }) => {
      const [valid] = parseIds([id]);
      const view = await withPlatform((platform) => inspectDeadLetter(platform, valid as string));
      if (flags.json) console.log(JSON.stringify(view, null, 2));
      else printView(view);
    });

  addFilterOptions(dlq.command('redrive [id]').description("send a dead letter (or every one matching filters) back to its group's first retry tier, or with --to-origin to its original topic"))
    .option('--all-matching', 'every dead letter matching the filters (state parked unless --state says otherwise)')
    .option('--to-origin', 'to the original topic named in its headers (every group reading it sees it; their inboxes skip what they applied)')
    .option('--again', 'redrive it even though it was redriven or discarded before')
    .option('--rate <n>', 'with --all-matching: at most n records per second')
    .option('--dry-run', 'with --all-matching: count the matching dead letters, send nothing')
    .option('--reason <text>', 'why (recorded)')
    .option('--json', 'print the result as JSON; progress as JSON lines on stderr')
    .addHelpText(
      'after',
      `
A dead letter is redriven once: the state change is conditional, so a second redrive (also a
concurrent one) is refused unless --again. Key, value and headers are kept; failed deliveries of
its event are set back to pending, so the group sends them; what was already sent is not sent
again. If it fails again, it comes back to the DLQ as a new dead letter.

Examples:
  $ tidings dlq redrive 42
  $ tidings dlq redrive 42 --to-origin --reason "SMTP relay fixed"
  $ tidings dlq redrive 42 --again --reason "template fixed a second time"
  $ tidings dlq redrive --all-matching --type PAYMENT_SUCCEEDED --from -6h --dry-run
  $ tidings dlq redrive --all-matching --group tidings.notification --from -6h --rate 50`,
    )
    .action(async (id: string | undefined, flags: FilterFlags & { allMatching?: boolean; toOrigin?: boolean; again?: boolean; rate?: string; dryRun?: boolean; reason?: string; json?: boolean }) => {
      const filter = parseFilter('dlq redrive', flags);
      const hasFilter = Object.values(filter).some((v) => v !== undefined);
      if (id !== undefined && flags.allMatching) throw new ConfigError('give a dead letter id or --all-matching with filters, not both');
      if (id === undefined && !flags.allMatching) throw new ConfigError('which dead letter? give its id (`tidings dlq list`), or --all-matching with filters');
      if (id !== undefined && (hasFilter || flags.rate !== undefined || flags.dryRun)) throw new ConfigError('filters, --rate and --dry-run go with --all-matching, not with an id');
      const { rate } = parseOptions('dlq redrive', z.object({ rate: z.coerce.number().positive().optional() }), { rate: flags.rate }, () => '--rate');
      const options = { actor: cliActor(), toOrigin: flags.toOrigin, again: flags.again, reason: flags.reason };
      await withPlatform(async (platform) => {
        if (id !== undefined) {
          const redriver = new DeadLetterRedriver(platform);
          try {
            const [valid] = parseIds([id]);
            const done = await redriver.redrive(valid as string, options);
            if (flags.json) console.log(JSON.stringify(done));
            else console.log(`redriven ${done.id} to ${done.to} (partition ${done.partition}, offset ${done.offset})${done.reopenedDeliveries > 0 ? `; ${done.reopenedDeliveries} failed delivery(ies) reopened` : ''}`);
          } finally {
            await redriver.close();
          }
          return;
        }
        if (flags.dryRun) {
          const redriver = new DeadLetterRedriver(platform);
          const count = (await redriver.matching(filter)).length;
          if (flags.json) console.log(JSON.stringify({ dryRun: true, matching: count }));
          else console.log(`${count} dead letter(s) would be redriven (dry run: nothing sent)`);
          return;
        }
        await redriveAll(platform, filter, { ...options, ratePerSecond: rate }, flags.json === true);
      });
    });

  dlq
    .command('discard <ids...>')
    .description('mark parked dead letters as reviewed and dropped on purpose (the records stay in Kafka); --reason is required')
    .option('--reason <text>', 'why they are dropped (required, recorded)')
    .option('--json', 'print the discarded rows as JSON')
    .addHelpText(
      'after',
      `
All or nothing: if one of them is not parked (already redriven or discarded), none is discarded.

Examples:
  $ tidings dlq discard 43 --reason "duplicate of 42, already redriven"
  $ tidings dlq discard 43 44 45 --reason "load-test traffic"`,
    )
    .action(async (ids: string[], flags: { reason?: string; json?: boolean }) => {
      const valid = parseIds(ids);
      if (flags.reason === undefined || flags.reason.trim() === '') {
        throw new ConfigError('discarding needs --reason "…": say why these dead letters are dropped, e.g. --reason "test traffic" (it is recorded)');
      }
      const reason = flags.reason;
      const discarded = await withPlatform((platform) => discardDeadLetters(platform.db, valid, { actor: cliActor(), reason }));
      if (flags.json) console.log(JSON.stringify(discarded, null, 2));
      else console.log(`discarded ${discarded.map((d) => d.id).join(', ')}: "${reason.trim()}"`);
    });
}

async function redriveAll(platform: Platform, filter: DeadLetterFilter, options: { actor: string; toOrigin?: boolean; again?: boolean; reason?: string; ratePerSecond?: number }, json: boolean): Promise<void> {
  const redriver = new DeadLetterRedriver(platform);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let progress: Progress | undefined;
  try {
    const result = await redriver.redriveMatching(filter, {
      ...options,
      signal: abort.signal,
      onStart: (total) => (progress = createProgress({ label: 'redrive', total, json })),
      onRecord: () => progress?.tick(),
    });
    const summary = { matched: result.matched, redriven: result.redriven.length, skipped: result.skipped.length, stopped: result.stopped };
    progress?.done(summary);
    if (json) console.log(JSON.stringify({ ...summary, redrivenIds: result.redriven.map((r) => r.id), skippedIds: result.skipped }));
    else {
      console.log(`redriven ${result.redriven.length} of ${result.matched} matching dead letter(s)`);
      for (const s of result.skipped) console.log(`  skipped ${s.id}: ${s.reason}`);
    }
    if (result.stopped) console.error('stopped before the end; run the same command again to go on (the ones redriven are no longer parked, so they are not sent twice)');
    if (result.stopped || result.skipped.length > 0) process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await redriver.close();
  }
}

function printList(rows: DeadLetter[], limit: number): void {
  if (rows.length === 0) {
    console.log('no dead letters match (the index is kept by `tidings run dlq-index`)');
    return;
  }
  const table = rows.map((r) => [
    r.id,
    r.deadLetteredAt.toISOString().slice(0, 19).replace('T', ' '),
    r.state,
    r.consumerGroup ?? '-',
    r.sourceTopic ?? r.dlqTopic,
    r.eventType ?? '-',
    r.userId ?? '-',
    String(r.attempts),
    [r.errorClass, r.errorCode].filter(Boolean).join(' ') || '-',
  ]);
  const header = ['ID', 'DEAD-LETTERED (UTC)', 'STATE', 'GROUP', 'TOPIC', 'TYPE', 'USER', 'ATT', 'ERROR'];
  console.log(formatTable([header, ...table]));
  if (rows.length === limit) console.log(`(the newest ${limit}; --limit for more, filters to narrow)`);
}

function printView(view: DeadLetterView): void {
  const d = view.deadLetter;
  const lines: Array<[string, string]> = [
    ['dead letter', `${d.id} (${d.state})`],
    ['record', `${d.dlqTopic} partition ${d.dlqPartition} offset ${d.dlqOffset}, key ${view.key ?? '(none)'}`],
    ['from', d.sourceTopic === null ? '(unknown)' : `${d.sourceTopic} partition ${d.sourcePartition ?? '?'} offset ${d.sourceOffset ?? '?'}`],
    ['group', `${d.consumerGroup ?? '(unknown)'}, ${d.attempts} attempt(s)`],
    ['event', `${d.eventType ?? '(unknown type)'} ${d.eventId ?? ''}`.trim()],
    ['user', d.userId ?? '(unknown)'],
    ['error', `${[d.errorClass, d.errorCode].filter(Boolean).join(' ')}: ${d.errorMessage ?? ''}`],
    ['first failure', d.firstFailureAt?.toISOString() ?? '(unknown)'],
    ['dead-lettered', d.deadLetteredAt.toISOString()],
  ];
  if (d.stateChangedAt) lines.push([d.state, `by ${d.stateChangedBy ?? '?'} at ${d.stateChangedAt.toISOString()}${d.redrivenTo && d.state === 'redriven' ? ` to ${d.redrivenTo}` : ''}${d.stateReason ? `: "${d.stateReason}"` : ''}`]);
  for (const [label, value] of lines) console.log(`${label.padEnd(14)} ${value}`);
  console.log('headers');
  for (const [name, value] of Object.entries(view.headers)) console.log(`  ${name}: ${value}`);
  if (view.undecodable) {
    const u = view.undecodable;
    console.log(`payload        not shown: it does not decode (${u.reason}); ${u.bytes} bytes${u.wireHeader ? `, ${u.wireHeader}` : ''}`);
    return;
  }
  console.log(`payload        schema id ${view.schemaId ?? '?'}; personal fields masked: ${view.maskedFields.length > 0 ? view.maskedFields.join(', ') : 'none present'}`);
  console.log(JSON.stringify(view.payload, null, 2));
}
