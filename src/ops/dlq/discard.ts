import type { Db } from '../../db/database';
import { ConfigError } from '../../errors';
import { recordOperatorAction } from '../operator-actions';
import { refusal } from './dead-letter-errors';
import { changeState, findDeadLetter, recordAddressOf, type DeadLetter } from './dead-letter-store';
import { addressKey } from './record-reader';

/**
 * Marks parked dead letters as discarded: reviewed and dropped on purpose. A reason is
 * required; who, when and why are kept on the row and in the operator actions. All or
 * nothing: if one of them is not parked (or does not exist), none is discarded. The Kafka
 * records stay where they are.
 */
export async function discardDeadLetters(db: Db, ids: readonly string[], options: { actor: string; reason: string }): Promise<DeadLetter[]> {
  const reason = options.reason.trim();
  if (reason.length === 0) throw new ConfigError('discarding a dead letter needs a reason (--reason "…"): whoever finds it later should know why it was dropped');
  return db.transaction(async (trx) => {
    const discarded: DeadLetter[] = [];
    for (const id of new Set(ids)) {
      const row = await changeState(trx, id, { from: ['parked'], to: 'discarded', by: options.actor, reason });
      if (!row) throw refusal(id, await findDeadLetter(trx, id), 'discard');
      await recordOperatorAction(trx, {
        actor: options.actor,
        action: 'dlq.discard',
        target: id,
        reason,
        details: { record: addressKey(recordAddressOf(row)), eventId: row.eventId },
      });
      discarded.push(row);
    }
    return discarded;
  });
}
