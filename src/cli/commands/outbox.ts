import type { Command } from 'commander';
import { outboxStatus } from '../../ops/inspect/outbox-status';
import { EXIT_CODES_HELP, operatorPlatform, withOperatorDb } from '../operator-command';
import { formatTable } from '../table';

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

export function registerOutboxCommands(program: Command): void {
  const outbox = program.command('outbox').description('the transactional outbox (rows waiting for the outbox relay)');

  outbox
    .command('status')
    .description('backlog of unpublished rows and the age of the oldest, rows set aside by the relay grouped by reason, rows published in the last minute')
    .option('--json', 'print {backlog, oldestAgeSeconds, setAside: [...], setAsideTotal, publishedLastMinute} as JSON')
    .addHelpText(
      'after',
      `
A growing backlog with nothing published in the last minute means no relay is running
(\`tidings run outbox-relay\`) or it cannot reach Kafka. Rows are set aside when the broker refuses
them for good (MESSAGE_TOO_LARGE, INVALID_TIMESTAMP, TOPIC_MISSING) or their schema is not
registered (SCHEMA_NOT_REGISTERED); fix the cause, then clear set_aside_at to queue them again:
  UPDATE tidings.outbox SET set_aside_at = NULL WHERE set_aside_code = 'SCHEMA_NOT_REGISTERED';

Examples:
  $ tidings outbox status
  $ tidings outbox status --json | jq '.backlog'
${EXIT_CODES_HELP}`,
    )
    .action(async (options: { json?: boolean }) => {
      const platform = operatorPlatform({}, 'tidings-outbox');
      try {
        const status = await withOperatorDb(platform, outboxStatus);
        if (options.json) {
          console.log(JSON.stringify(status));
          return;
        }
        console.log(`backlog: ${status.backlog} row${status.backlog === 1 ? '' : 's'} to publish${status.oldestAgeSeconds === null ? '' : `, the oldest written ${formatAge(status.oldestAgeSeconds)} ago`}`);
        console.log(`published in the last minute: ${status.publishedLastMinute}`);
        console.log(`set aside: ${status.setAsideTotal}`);
        if (status.setAside.length > 0) {
          const rows = status.setAside.map((g) => [g.code, String(g.rows), g.lastAt.toISOString(), `${g.sampleReason ?? ''} (event ${g.sampleEventId})`]);
          console.log(formatTable([['CODE', 'ROWS', 'LATEST', 'SAMPLE REASON'], ...rows], '  '));
        }
      } finally {
        await platform.close();
      }
    });
}
