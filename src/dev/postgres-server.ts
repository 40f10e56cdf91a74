import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, DatabaseError } from 'pg';
import { StackError } from '../errors';
import { BackgroundProcess, waitUntil } from './background-process';
import { POSTGRES_BINARIES_VERSION, installPostgresBinaries, postgresExecutable } from './postgres-binaries';
import { canReach, unprivilegedUser, type RunUser } from './run-as-user';

/**
 * The local stack's own PostgreSQL, for a machine that has none: Maven Central's binaries,
 * a cluster initialised into `<stack home>/postgres` (superuser `postgres`, trust auth, loopback
 * only), and the server as a background process that `dev down` stops.
 */
export interface EmbeddedPostgresOptions {
  home: string;
  port: number;
}

/** Where the server's files go when root runs the stack and the server's user cannot reach the stack home. */
const RELOCATED_ROOT = '/var/lib/tidings-pg';

export class EmbeddedPostgres {
  readonly port: number;
  readonly process: BackgroundProcess;

  constructor(private readonly options: EmbeddedPostgresOptions) {
    this.port = options.port;
    // SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions and checkpoints. SIGTERM
    // ("smart") would wait for every client, and its own children must not be signalled directly.
    this.process = new BackgroundProcess('postgres', path.join(options.home, 'run'), { signal: 'SIGINT', group: false });
  }

  /** The superuser's URL of the server's `postgres` database. */
  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  isRunning(): boolean {
    return this.process.isRunning();
  }

  /** True when the binaries are unpacked (in the stack home or, for root, its relocated folder) and start() runs no Maven. */
  isInstalled(): boolean {
    return [this.options.home, relocatedBase(this.options.home)].some((base) => fs.existsSync(postgresExecutable(binariesDir(base))));
  }

  /** Installs, initialises and starts the server (each step only once); returns what it did, for the progress line. */
  async start(): Promise<string> {
    const user = unprivilegedUser();
    fs.mkdirSync(this.options.home, { recursive: true });
    const relocated = !canReach(user, this.options.home);
    const base = relocated ? makeRelocatedBase(this.options.home) : this.options.home;
    const binaries = installPostgresBinaries(binariesDir(base));
    const dataDir = path.join(base, 'postgres');
    const initialised = this.initdb(binaries, dataDir, user);
    if (!this.process.isRunning()) {
      this.process.start({
        port: this.port,
        command: postgresExecutable(binaries),
        args: [
          '-D', dataDir,
          '-p', String(this.port),
          '-h', '127.0.0.1',
          // No Unix socket: clients use TCP, and a socket in /tmp could clash with another server's.
          '-c', 'unix_socket_directories=',
          // Every consumer group, the API and the tests each keep a pool.
          '-c', 'max_connections=200',
        ],
        uid: user?.uid,
        gid: user?.gid,
      });
    }
    await this.waitReady();
    const parts = [`127.0.0.1:${this.port}`, `data in ${dataDir}${initialised ? ' (initialised now)' : ''}`];
    if (user) parts.push(`runs as user ${user.name}${user.created ? ' (account created now)' : ''}, since PostgreSQL refuses to run as root`);
    if (relocated) parts.push(`files under ${base} because ${user?.name} cannot reach ${this.options.home}`);
    return parts.join('; ');
  }

  async stop(): Promise<boolean> {
    return this.process.stop();
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    await waitUntil(`PostgreSQL on 127.0.0.1:${this.port}`, () => acceptsConnections(this.adminUrl), {
      timeoutMs,
      describeFailure: () =>
        this.process.isRunning() ? `log: ${this.process.logFile}` : `the server exited; last log lines:\n${this.process.tail()}`,
    });
  }

  /** Creates the cluster unless it exists; true when it did. */
  private initdb(binaries: string, dataDir: string, user: RunUser | undefined): boolean {
    if (fs.existsSync(path.join(dataDir, 'PG_VERSION'))) return false;
    // Initialised beside its final place and renamed once complete, so a half-made cluster is never started.
    const partial = `${dataDir}.initdb`;
    fs.rmSync(partial, { recursive: true, force: true });
    fs.mkdirSync(partial, { recursive: true, mode: 0o700 });
    if (user) fs.chownSync(partial, user.uid, user.gid);
    const result = spawnSync(
      path.join(binaries, 'bin', 'initdb'),
      ['-D', partial, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'],
      { encoding: 'utf8', uid: user?.uid, gid: user?.gid },
    );
    if (result.error || result.status !== 0) {
      throw new StackError(`initdb of ${dataDir} failed: ${result.error?.message ?? ''}${result.stdout}${result.stderr}`.trim());
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.renameSync(partial, dataDir);
    return true;
  }
}

/** A PostgreSQL server (any) answers at `url`: it connects, or refuses with a PostgreSQL error such as a failed login. */
export async function isPostgresAnswering(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch (error) {
    // An error message in PostgreSQL's protocol still proves a PostgreSQL; a socket error does not.
    return error instanceof DatabaseError;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function acceptsConnections(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function binariesDir(base: string): string {
  return path.join(base, 'cache', `postgres-${POSTGRES_BINARIES_VERSION}`);
}

/** One folder per stack home, named by a hash of its path so the next `dev up` finds it again. */
function relocatedBase(home: string): string {
  return path.join(RELOCATED_ROOT, createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 16));
}

/** Root-owned and world-readable: the server's user reads the binaries there and owns its data folder inside. */
function makeRelocatedBase(home: string): string {
  const base = relocatedBase(home);
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  fs.chmodSync(RELOCATED_ROOT, 0o755);
  fs.chmodSync(base, 0o755);
  return base;
}
