import { spawnSync } from 'node:child_process';
import { StackError } from '../errors';

/**
 * PostgreSQL's server refuses to run as root ("root execution of the PostgreSQL server is
 * not permitted"). When the stack runs as root, as CI does, the server runs as this
 * unprivileged account instead: found, created, or failing both, `nobody`.
 */
export const RUN_USER_NAME = 'tidings-pg';

export interface RunUser {
  name: string;
  uid: number;
  gid: number;
  /** True when this call created the account. */
  created: boolean;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Undefined when not root: the server then runs as the current user. */
export function unprivilegedUser(): RunUser | undefined {
  if (!isRoot()) return undefined;
  const existing = lookUp(RUN_USER_NAME);
  if (existing) return existing;
  const add = spawnSync(
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', RUN_USER_NAME],
    { encoding: 'utf8' },
  );
  // Another `dev up` may have created it at the same moment: look again either way.
  const added = lookUp(RUN_USER_NAME);
  if (added) return { ...added, created: add.status === 0 };
  const nobody = lookUp('nobody');
  if (nobody) return nobody;
  throw new StackError(
    `PostgreSQL refuses to run as root, and no unprivileged account "${RUN_USER_NAME}" or "nobody" could be found or created ` +
      `(useradd: ${add.error?.message ?? add.stderr.trim()}): run \`tidings dev up\` as a normal user, or set DATABASE_URL to a PostgreSQL server`,
  );
}

/** True when `user` can reach (search) `dir`, i.e. every folder on the way is traversable for it. */
export function canReach(user: RunUser | undefined, dir: string): boolean {
  if (!user) return true;
  return spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid }).status === 0;
}

function lookUp(name: string): RunUser | undefined {
  const uid = idNumber('-u', name);
  const gid = idNumber('-g', name);
  return uid === undefined || gid === undefined ? undefined : { name, uid, gid, created: false };
}

function idNumber(flag: '-u' | '-g', name: string): number | undefined {
  const result = spawnSync('id', [flag, name], { encoding: 'utf8' });
  const value = Number(result.stdout.trim());
  return result.status === 0 && Number.isInteger(value) && value > 0 ? value : undefined;
}
