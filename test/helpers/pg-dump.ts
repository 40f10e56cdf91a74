import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

/** The pg_dump of the local PostgreSQL (Debian's layout: /usr/lib/postgresql/<major>/bin), newest major first. */
export function pgDumpPath(): string {
  const majors = fs.existsSync(ROOT) ? fs.readdirSync(ROOT).sort((a, b) => Number(b) - Number(a)) : [];
  const found = majors.map((v) => `${ROOT}/${v}/bin/pg_dump`).find((p) => fs.existsSync(p));
  if (!found) throw new Error(`pg_dump not found under ${ROOT}/*/bin`);
  return found;
}

/** Every row of the database at `databaseUrl` as pg_dump writes it (data only): what a backup would hold. */
export async function dumpDatabaseData(databaseUrl: string): Promise<string> {
  const { stdout } = await run(pgDumpPath(), ['--data-only', `--dbname=${databaseUrl}`], { maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}
