import type { Db } from '../../db/database';

/** The events among `eventIds` that `groupId` has processed (recorded in its inbox), by `cutoff` if given. */
export async function processedBy(db: Db, groupId: string, eventIds: string[], cutoff?: Date): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const query = db('inbox').where({ consumer_group: groupId }).whereIn('event_id', [...new Set(eventIds)]).select('event_id');
  if (cutoff) query.where('processed_at', '<=', cutoff);
  const rows = (await query) as Array<{ event_id: string }>;
  return new Set(rows.map((r) => r.event_id));
}
