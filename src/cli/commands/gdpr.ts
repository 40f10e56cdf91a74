import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { eraseUser, keyShredder, type Erasure } from '../../compliance/erasure';
import { ConfigError } from '../../errors';
import { cliActor } from '../../ops/operator-actions';
import { EXIT_CODES_HELP, operatorPlatform, withOperatorDb } from '../operator-command';
import { formatTable } from '../table';

export function registerGdprCommands(program: Command): void {
  const gdpr = program.command('gdpr').description("data subjects' rights: erase a user (crypto-shredding of their personal data)");

  gdpr
    .command('erase <user-id>')
    .description("erase a user: destroy their data key (their personal fields in every topic, retry tier, DLQ and table become unreadable), delete or anonymise their rows, cancel what is scheduled for them; recorded in erasures and operator_actions")
    .option('--reason <text>', 'why, e.g. the ticket of the request (recorded)')
    .option('--yes', 'erase without asking (scripts); erasure cannot be undone')
    .option('--json', 'print the erasure record as JSON')
    .addHelpText(
      'after',
      `
What stays: the delivery ledger (what was sent when, without address or message), the audit log
and legal records (append-only; their personal values are sealed with the destroyed key), the
inbox, and the erasure record itself (erasure id, time, actor, reason, destroyed key ids, row
counts, and the user id). Events of the user consumed later are skipped (ledger reason
user_erased). Copies made outside Tidings (a service's own database, mail already delivered,
records written before sealing was on) are not reached: see README, "Erasure (GDPR)".

Works with or without TIDINGS_MASTER_KEY (destroying a key needs no key-encryption key).

Examples:
  $ tidings gdpr erase u-42 --reason "request #1234"
  $ tidings gdpr erase u-42 --reason "request #1234" --yes --json
${EXIT_CODES_HELP}`,
    )
    .action(async (userId: string, flags: { reason?: string; yes?: boolean; json?: boolean }) => {
      if (!(await confirmed(userId, flags.yes === true))) {
        console.log(flags.json ? JSON.stringify({ status: 'cancelled', changed: false }) : 'cancelled: nothing was erased');
        process.exitCode = 1;
        return;
      }
      const platform = operatorPlatform({}, 'tidings-gdpr');
      try {
        const erasure = await withOperatorDb(platform, (db) => eraseUser({ db, keys: keyShredder(db, platform.dataKeys) }, { userId, actor: cliActor(), reason: flags.reason }));
        if (flags.json) console.log(JSON.stringify(erasure));
        else printErasure(erasure);
      } finally {
        await platform.close();
      }
    });
}

/** Asks on a terminal for the user id again; refused without --yes otherwise (a script must say it means it). */
async function confirmed(userId: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) throw new ConfigError('erasure cannot be undone and asks for confirmation, but stdin is not a terminal: add --yes to confirm');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Erase user ${userId}? This cannot be undone. Type the user id to confirm: `);
    return answer.trim() === userId.trim();
  } finally {
    rl.close();
  }
}

function printErasure(e: Erasure): void {
  console.log(`erased user ${e.userId}: erasure ${e.id} at ${e.erasedAt.toISOString()} by ${e.actor}${e.reason ? ` ("${e.reason}")` : ''}`);
  console.log(e.destroyedKeyIds.length > 0 ? `data keys destroyed: ${e.destroyedKeyIds.join(', ')}` : 'data keys destroyed: none (no live key: sealing was off for this user, or they were erased before)');
  const rows = Object.entries(e.rowCounts).filter(([, n]) => n > 0);
  if (rows.length === 0) console.log('rows: none of this user in the tables');
  else console.log(formatTable([['TABLE.ACTION', 'ROWS'], ...rows.map(([what, n]) => [what, String(n)])], '  '));
}
