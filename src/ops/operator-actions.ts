import os from 'node:os';
import type { Knex } from 'knex';
import { readEnv } from '../config/env';

/** One thing an operator did that changed something. */
export interface OperatorAction {
  /** Who: an API key's name, or `user@host` for the CLI (TIDINGS_ACTOR overrides). */
  actor: string;
  /** What, as `<area>.<verb>`: `replay.resend`, `dlq.redrive`, `offsets.reset`, `apikey.create`, … */
  action: string;
  /** On what: a topic, a dead letter's id, a group, a key's name. */
  target: string;
  /** Why, in the operator's words (required by some actions, e.g. discarding a dead letter). */
  reason?: string;
  details?: Record<string, unknown>;
}

export interface RecordedAction extends Required<Omit<OperatorAction, 'reason'>> {
  id: string;
  at: Date;
  reason: string | null;
}

const TABLE = 'operator_actions';

/** Records an action; pass the transaction that makes the change, so both commit together. */
export async function recordOperatorAction(db: Knex | Knex.Transaction, action: OperatorAction): Promise<{ id: string }> {
  const [row] = (await db(TABLE)
    .insert({ actor: action.actor, action: action.action, target: action.target, reason: action.reason ?? null, details: action.details ?? {} })
    .returning('id')) as [{ id: string }];
  return { id: row.id };
}

/** The newest actions first. */
export async function listOperatorActions(db: Knex, filter: { action?: string; limit?: number } = {}): Promise<RecordedAction[]> {
  const query = db(TABLE)
    .select('id', 'at', 'actor', 'action', 'target', 'reason', 'details')
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 100);
  if (filter.action !== undefined) query.where({ action: filter.action });
  return (await query) as RecordedAction[];
}

/** The actor of CLI commands: TIDINGS_ACTOR, else the OS user and host. */
export function cliActor(env: NodeJS.ProcessEnv = process.env): string {
  const configured = readEnv(env).TIDINGS_ACTOR;
  if (configured) return configured;
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the host still says where it came from.
  }
  return `${user}@${os.hostname()}`;
}
