import type { Command } from 'commander';
import { ApiKeys, type ApiKeyInfo } from '../../api/auth/api-keys';
import { API_KEY_SCOPES } from '../../api/auth/scopes';
import { UserTokens } from '../../api/auth/user-tokens';
import { readEnv, resolveEndpoints } from '../../config/env';
import { createDb, type Db } from '../../db/database';
import { ConfigError } from '../../errors';
import { cliActor } from '../../ops/operator-actions';
import { formatTable } from '../table';

interface JsonOption {
  json?: boolean;
}

/** Runs `work` with a pool on Tidings' schema, closed afterwards. */
async function withDb<T>(work: (db: Db) => Promise<T>): Promise<T> {
  const { databaseUrl, databaseSchema } = resolveEndpoints();
  const db = createDb(databaseUrl, { schema: databaseSchema, poolMax: 2 });
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

const when = (date: Date | null): string => (date === null ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z'));

function printTable(keys: ApiKeyInfo[]): void {
  const rows = [['ID', 'NAME', 'SCOPE', 'CREATED', 'CREATED BY', 'LAST USED', 'REVOKED'], ...keys.map((k) => [k.id, k.name, k.scope, when(k.createdAt), k.createdBy, when(k.lastUsedAt), k.revokedAt === null ? '-' : `${when(k.revokedAt)} by ${k.revokedBy ?? '?'}`])];
  console.log(formatTable(rows));
}

export function registerApiKeyCommands(program: Command): void {
  const apikeys = program
    .command('apikeys')
    .description('API keys of the admin API (scopes read < operate < admin) and user tokens of the end-user API')
    .addHelpText('after', '\nExamples:\n  $ tidings apikeys create --scope operate --name oncall\n  $ tidings apikeys list\n  $ tidings apikeys revoke oncall --reason "rotated"\n  $ tidings apikeys user-token u-42');

  apikeys
    .command('create')
    .description('create an API key and print it, once: only its SHA-256 hash is stored. Recorded as an operator action')
    .requiredOption('--scope <scope>', `${API_KEY_SCOPES.join(' | ')}: read sees (deliveries, receipts, DLQ, actions); operate also changes (redrive, replay, any user's data); admin everything`)
    .requiredOption('--name <name>', 'who or what holds it, e.g. oncall or dashboard (unique among live keys)')
    .option('--reason <text>', 'why, for the operator actions log')
    .option('--json', 'print {id, name, scope, createdAt, key} as JSON')
    .addHelpText(
      'after',
      `
The key goes to stdout alone (the notes to stderr), so a script can capture it:
  $ KEY=$(tidings apikeys create --scope read --name dashboard)
  $ curl -H "Authorization: Bearer $KEY" localhost:3000/admin/actions

Examples:
  $ tidings apikeys create --scope operate --name oncall --reason "on-call rotation"
  $ tidings apikeys create --scope admin --name ci --json`,
    )
    .action(async (options: { scope: string; name: string; reason?: string; json?: boolean }) => {
      const created = await withDb((db) => new ApiKeys(db).create({ name: options.name, scope: options.scope as ApiKeyInfo['scope'], actor: cliActor(), reason: options.reason }));
      if (options.json) {
        console.log(JSON.stringify({ id: created.id, name: created.name, scope: created.scope, createdAt: created.createdAt, key: created.key }));
        return;
      }
      console.error(`created API key "${created.name}" (id ${created.id}, scope ${created.scope}); it is shown only this once, store it now:`);
      console.log(created.key);
    });

  apikeys
    .command('list')
    .description('list API keys, live and revoked: name, scope, created, last used (to the minute), revoked. Never a secret')
    .option('--json', 'print the keys as a JSON array')
    .addHelpText('after', '\nExamples:\n  $ tidings apikeys list\n  $ tidings apikeys list --json | jq \'.[] | select(.revokedAt == null) | .name\'')
    .action(async (options: JsonOption) => {
      const keys = await withDb((db) => new ApiKeys(db).list());
      if (options.json) console.log(JSON.stringify(keys));
      else if (keys.length === 0) console.log('no API keys yet: `tidings apikeys create --scope read --name <name>` makes one');
      else printTable(keys);
    });

  apikeys
    .command('revoke <nameOrId>')
    .description('revoke a live API key by name or id: every request with it is refused from now on. Recorded as an operator action')
    .option('--reason <text>', 'why, for the operator actions log')
    .option('--json', 'print the revoked key as JSON')
    .addHelpText('after', '\nExamples:\n  $ tidings apikeys revoke oncall --reason "left the team"\n  $ tidings apikeys revoke 3f9c2a7e51d04b86')
    .action(async (nameOrId: string, options: JsonOption & { reason?: string }) => {
      const revoked = await withDb((db) => new ApiKeys(db).revoke({ nameOrId, actor: cliActor(), reason: options.reason }));
      if (options.json) console.log(JSON.stringify(revoked));
      else console.log(`revoked API key "${revoked.name}" (id ${revoked.id}, scope ${revoked.scope})`);
    });

  apikeys
    .command('user-token <userId>')
    .description("print a user's token for the end-user endpoints (<userId>.<hex HMAC-SHA256 of the user id with TIDINGS_USER_TOKEN_SECRET>), for testing and support")
    .option('--json', 'print {userId, token} as JSON')
    .addHelpText(
      'after',
      `
Your service computes the same for each signed-in user and hands it to the user's app,
e.g. in Node: crypto.createHmac('sha256', secret).update(userId).digest('hex').

Examples:
  $ tidings apikeys user-token u-42
  $ curl -H "X-Tidings-User-Token: $(tidings apikeys user-token u-42)" localhost:3000/users/u-42/preferences`,
    )
    .action((userId: string, options: JsonOption) => {
      const secret = readEnv().TIDINGS_USER_TOKEN_SECRET;
      if (secret === undefined) throw new ConfigError('TIDINGS_USER_TOKEN_SECRET is not set: set it to the secret `tidings api` runs with');
      if (userId === '' || userId.length > 256) throw new ConfigError('<userId> must be 1 to 256 characters');
      const token = new UserTokens(secret).issue(userId);
      console.log(options.json ? JSON.stringify({ userId, token }) : token);
    });
}
