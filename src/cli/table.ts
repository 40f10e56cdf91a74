/** Rows as aligned columns (the first row is the header); the last column is not padded. */
export function formatTable(rows: ReadonlyArray<readonly string[]>, indent = ''): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
