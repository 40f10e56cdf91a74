import type { Knex } from 'knex';
import type { Db, Trx } from './database';

/** The PostgreSQL type of each column to insert, e.g. `{ event_id: 'uuid', partition: 'int' }`. */
export type ColumnTypes<Row> = { readonly [K in keyof Row]: string };

export interface UnnestInsertOptions {
  /** `ON CONFLICT (<these columns>) DO NOTHING`: rows whose key exists (or repeats in `rows`) are skipped. */
  onConflict?: readonly string[];
  /** Columns of the inserted rows to return (rows skipped by `onConflict` are not returned; order is not guaranteed). */
  returning?: readonly string[];
}

/**
 * Inserts many rows in one statement that binds one array per column
 * (`INSERT … SELECT * FROM unnest($1::uuid[], $2::text[], …)`) instead of one parameter per
 * value: the statement stays a few hundred bytes whatever the row count, so neither knex nor
 * PostgreSQL parse and plan thousands of placeholders, and the values travel as a handful of
 * array literals. Every row gives every column of `types` (undefined is NULL, not the
 * column's DEFAULT); columns left out of `types` get their DEFAULT.
 */
export async function unnestInsert<Row extends object, Out = Record<string, unknown>>(
  db: Db | Trx,
  table: string,
  types: ColumnTypes<Row>,
  rows: readonly Row[],
  options: UnnestInsertOptions = {},
): Promise<Out[]> {
  if (rows.length === 0) return [];
  const columns = Object.keys(types) as Array<keyof Row & string>;
  // pg writes any array as an array literal (NULL for null); knex's types only list arrays of one type.
  const arrays = columns.map((column) => rows.map((row) => row[column] ?? null) as unknown as Knex.Value);
  const casts = columns.map((column) => `?::${types[column]}[]`).join(', ');
  const conflict = options.onConflict ? ` ON CONFLICT (${options.onConflict.map(() => '??').join(', ')}) DO NOTHING` : '';
  const returning = options.returning ? ` RETURNING ${options.returning.map(() => '??').join(', ')}` : '';
  const sql = `INSERT INTO ?? (${columns.map(() => '??').join(', ')}) SELECT * FROM unnest(${casts})${conflict}${returning}`;
  const result = await db.raw<{ rows: Out[] }>(sql, [table, ...columns, ...arrays, ...(options.onConflict ?? []), ...(options.returning ?? [])]);
  return result.rows;
}
