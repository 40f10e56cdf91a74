import type { Command } from 'commander';
import { parseDurations } from '../../config/duration';
import { readEnv, resolveEndpoints } from '../../config/env';
import { DEFAULT_RETRY_DELAYS_MS } from '../../consumer/retry-topology';
import { createLogger } from '../../observability/logger';
import { Platform } from '../../platform';
import { checkInboxRetention } from '../../retention/inbox-retention';
import { Pruner, RETENTION_TABLES } from '../../retention/pruner';
import { formatDuration, retentionOptionsFromEnv, retentionSettings } from '../../retention/retention-options';

interface PruneOptions {
  dryRun?: boolean;
  json?: boolean;
  topicPrefix?: string;
  retryDelays?: string;
}

export function registerPruneCommand(program: Command): void {
  program
    .command('prune')
    .description('delete the rows of the operational tables that are past their retention (every `tidings run` worker also does it periodically)')
    .option('--dry-run', 'count the rows that would be deleted; delete nothing')
    .option('--json', 'print the counts per table as JSON')
    .option('--topic-prefix <prefix>', 'prefix of every topic name (overrides TIDINGS_TOPIC_PREFIX)')
    .option('--retry-delays <list>', 'the longest retry tiers any group runs with, for the inbox check, e.g. 10s,1m,10m,1h (the default)')
    .addHelpText(
      'after',
      `
Retention (durations such as 30d, 12h, 10m):
  TIDINGS_RETENTION_INBOX        inbox rows, from processing (30d); must outlive the source topics'
                                 retention.ms + segment.ms + the retry tiers, checked against the broker
  TIDINGS_RETENTION_INBOX_FORCE  true: prune the inbox even when the topics keep records longer or forever
  TIDINGS_RETENTION_LEDGER       finished ledger rows (sent, failed, suppressed), from their last update (30d)
  TIDINGS_RETENTION_ATTEMPTS     provider attempts of finished ledger rows (30d)
  TIDINGS_RETENTION_RATE_LIMITS  rate-limit counters, from their window's start (1d, at least the longest window)
  TIDINGS_RETENTION_OUTBOX       published outbox rows, from publication (1d)
  TIDINGS_PRUNE_INTERVAL         how often each worker prunes (10m); TIDINGS_PRUNE_BATCH rows per DELETE (1000)
Never deleted: pending, sending or deferred ledger rows and their attempts, unpublished outbox rows.

Examples:
  $ tidings prune --dry-run --json
  $ TIDINGS_RETENTION_LEDGER=90d tidings prune`,
    )
    .action(async (options: PruneOptions) => {
      const env = readEnv(options.topicPrefix === undefined ? process.env : { ...process.env, TIDINGS_TOPIC_PREFIX: options.topicPrefix });
      const logger = createLogger('prune');
      const platform = new Platform({ clientId: 'tidings-prune', endpoints: resolveEndpoints(env) });
      try {
        const retention = retentionOptionsFromEnv(env);
        const settings = retentionSettings(retention);
        const delays = options.retryDelays === undefined ? DEFAULT_RETRY_DELAYS_MS : parseDurations(options.retryDelays, '--retry-delays');
        // Every group reads these two topics or one of them, so the inbox of all groups is checked against both.
        const pruneInbox = await checkInboxRetention(platform.kafka, [platform.topics.auth, platform.topics.payment], delays, settings, logger);
        const pruner = new Pruner({ ...retention, db: platform.db, inbox: pruneInbox ? 'all' : 'none', logger });
        const { counts, busy } = await pruner.prune({ dryRun: options.dryRun === true });
        const inbox = pruneInbox ? `rows older than ${formatDuration(settings.inboxMs)}` : 'kept: a source topic keeps its records forever';
        if (options.json) {
          console.log(JSON.stringify({ dryRun: options.dryRun === true, counts, inbox, busy }));
          return;
        }
        console.log(options.dryRun ? 'would delete (dry run, nothing deleted):' : 'deleted:');
        for (const table of RETENTION_TABLES) console.log(`  ${table.padEnd(20)} ${counts[table]}`);
        console.log(`inbox: ${inbox}`);
        if (busy.length > 0) console.log(`skipped (another instance is pruning them now): ${busy.join(', ')}`);
      } finally {
        await platform.close();
      }
    });
}
