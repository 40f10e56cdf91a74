import type { Knex } from 'knex';

export const DEAD_LETTER_STATES = ['parked', 'redriven', 'discarded'] as const;
/** parked: waiting for review; redriven: sent back for another attempt; discarded: dropped on purpose, with a reason. */
export type DeadLetterState = (typeof DEAD_LETTER_STATES)[number];

const TABLE = 'dead_letters';

/** A row of the index as the dead-letter index group writes it. */
export interface NewDeadLetter {
  dlq_topic: string;
  dlq_partition: number;
  dlq_offset: string;
  record_key: string | null;
  user_id: string | null;
  event_type: string | null;
  event_id: string | null;
  consumer_group: string | null;
  error_class: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  source_topic: string | null;
  source_partition: number | null;
  source_offset: string | null;
  first_failure_at: Date | null;
  dead_lettered_at: Date;
}

/** One dead letter: where its record is, what it is, why it failed, and what was done with it. */
export interface DeadLetter {
  id: string;
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: string;
  key: string | null;
  userId: string | null;
  eventType: string | null;
  eventId: string | null;
  consumerGroup: string | null;
  errorClass: string | null;
  errorCode: string | null;
  /** Personal values of the payload are masked in it. */
  errorMessage: string | null;
  attempts: number;
  sourceTopic: string | null;
  sourcePartition: number | null;
  sourceOffset: string | null;
  firstFailureAt: Date | null;
  deadLetteredAt: Date;
  indexedAt: Date;
  state: DeadLetterState;
  stateChangedAt: Date | null;
  stateChangedBy: string | null;
  stateReason: string | null;
  redrivenTo: string | null;
  redrives: number;
}

export interface DeadLetterFilter {
  /** A source topic (`payment.events`) or a DLQ topic (`payment.events.notification.dlq`). */
  topic?: string;
  /** The consumer group that dead-lettered it (`tidings.notification`). */
  group?: string;
  errorClass?: string;
  eventType?: string;
  userId?: string;
  /** Dead-lettered at or after (epoch ms). */
  fromMs?: number;
  /** Dead-lettered at or before (epoch ms). */
  toMs?: number;
  state?: DeadLetterState;
}

export interface DeadLetterRow extends NewDeadLetter {
  id: string;
  indexed_at: Date;
  state: DeadLetterState;
  state_changed_at: Date | null;
  state_changed_by: string | null;
  state_reason: string | null;
  redriven_to: string | null;
  redrives: number;
}

/** Adds the index rows of new dead letters; a record already indexed is left as it is. */
export async function insertDeadLetters(trx: Knex.Transaction, rows: NewDeadLetter[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await trx(TABLE).insert(rows).onConflict(['dlq_topic', 'dlq_partition', 'dlq_offset']).ignore().returning('id');
  return inserted.length;
}

/** `query` narrowed to the dead letters matching `filter`. */
export function whereMatching(query: Knex.QueryBuilder, filter: DeadLetterFilter): Knex.QueryBuilder {
  if (filter.topic !== undefined) query.where(filter.topic.endsWith('.dlq') ? 'dlq_topic' : 'source_topic', filter.topic);
  if (filter.group !== undefined) query.where('consumer_group', filter.group);
  if (filter.errorClass !== undefined) query.where('error_class', filter.errorClass);
  if (filter.eventType !== undefined) query.where('event_type', filter.eventType);
  if (filter.userId !== undefined) query.where('user_id', filter.userId);
  if (filter.state !== undefined) query.where('state', filter.state);
  if (filter.fromMs !== undefined) query.where('dead_lettered_at', '>=', new Date(filter.fromMs));
  if (filter.toMs !== undefined) query.where('dead_lettered_at', '<=', new Date(filter.toMs));
  return query;
}

/** The query of `listDeadLetters`: each filter has an index that yields this order and stops at the limit. */
export function newestQuery(db: Knex, filter: DeadLetterFilter, limit: number): Knex.QueryBuilder {
  return whereMatching(db(TABLE).select('*'), filter)
    .orderBy([
      { column: 'dead_lettered_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit);
}

/** The newest dead letters matching `filter`. */
export async function listDeadLetters(db: Knex, filter: DeadLetterFilter, limit: number): Promise<DeadLetter[]> {
  return ((await newestQuery(db, filter, limit)) as DeadLetterRow[]).map(toDeadLetter);
}

/** The ids matching `filter`, oldest first: what a bulk redrive works through. */
export async function matchingIds(db: Knex, filter: DeadLetterFilter): Promise<string[]> {
  const rows = (await whereMatching(db(TABLE).select('id'), filter).orderBy([
    { column: 'dead_lettered_at', order: 'asc' },
    { column: 'id', order: 'asc' },
  ])) as Array<{ id: string }>;
  return rows.map((r) => String(r.id));
}

export async function findDeadLetter(db: Knex | Knex.Transaction, id: string): Promise<DeadLetter | undefined> {
  const row = (await db(TABLE).where({ id }).first()) as DeadLetterRow | undefined;
  return row && toDeadLetter(row);
}

/** The dead letters with these ids, in the order of `ids` (those that do not exist left out). */
export async function findDeadLetters(db: Knex, ids: readonly string[]): Promise<DeadLetter[]> {
  const rows = (await db(TABLE).whereIn('id', [...ids])) as DeadLetterRow[];
  const byId = new Map(rows.map((r) => [String(r.id), toDeadLetter(r)]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

export interface StateChange {
  /** The states it may be in; in any other it is left alone. */
  from: readonly DeadLetterState[];
  to: DeadLetterState;
  by: string;
  reason?: string;
  redrivenTo?: string;
}

/**
 * Moves a dead letter to another state in one conditional UPDATE: of two operators at once,
 * the second waits for the first's transaction and then finds the state changed. Returns the
 * row after the change, or undefined when it was not in one of `from` (or does not exist).
 */
export async function changeState(trx: Knex.Transaction, id: string, change: StateChange): Promise<DeadLetter | undefined> {
  const [row] = (await trx(TABLE)
    .where({ id })
    .whereIn('state', [...change.from])
    .update({
      state: change.to,
      state_changed_at: trx.fn.now(),
      state_changed_by: change.by,
      state_reason: change.reason ?? null,
      ...(change.redrivenTo === undefined ? {} : { redriven_to: change.redrivenTo, redrives: trx.raw('redrives + 1') }),
    })
    .returning('*')) as DeadLetterRow[];
  return row && toDeadLetter(row);
}

/** Where the dead letter's record is in Kafka. */
export function recordAddressOf(deadLetter: DeadLetter): { topic: string; partition: number; offset: string } {
  return { topic: deadLetter.dlqTopic, partition: deadLetter.dlqPartition, offset: deadLetter.dlqOffset };
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: String(row.id),
    dlqTopic: row.dlq_topic,
    dlqPartition: row.dlq_partition,
    dlqOffset: String(row.dlq_offset),
    key: row.record_key,
    userId: row.user_id,
    eventType: row.event_type,
    eventId: row.event_id,
    consumerGroup: row.consumer_group,
    errorClass: row.error_class,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    attempts: row.attempts,
    sourceTopic: row.source_topic,
    sourcePartition: row.source_partition,
    sourceOffset: row.source_offset === null ? null : String(row.source_offset),
    firstFailureAt: row.first_failure_at,
    deadLetteredAt: row.dead_lettered_at,
    indexedAt: row.indexed_at,
    state: row.state,
    stateChangedAt: row.state_changed_at,
    stateChangedBy: row.state_changed_by,
    stateReason: row.state_reason,
    redrivenTo: row.redriven_to,
    redrives: row.redrives,
  };
}
