import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';
import { BackgroundProcess, waitUntil } from './background-process';
import { findJava } from './java';
import { fetchArtifactFile } from './maven';

/**
 * Apicurio Registry 3.x, a real schema registry with a Confluent-compatible API, run from its
 * Maven Central distribution. It stores schemas in PostgreSQL (database `tidings_registry`),
 * so schema ids survive restarts just like the Kafka messages that embed them.
 */
export const APICURIO_VERSION = '3.3.3';
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export interface RegistryServerOptions {
  home: string;
  port?: number;
  managementPort?: number;
  /** libpq-style URL of the PostgreSQL server; the registry uses its own database on it. */
  databaseUrl: string;
  database?: string;
}

export class RegistryServer {
  readonly port: number;
  readonly managementPort: number;
  readonly process: BackgroundProcess;
  private readonly dir: string;

  constructor(private readonly options: RegistryServerOptions) {
    this.port = options.port ?? 8081;
    this.managementPort = options.managementPort ?? this.port + 10;
    this.dir = path.join(options.home, 'cache', `apicurio-registry-${APICURIO_VERSION}`);
    this.process = new BackgroundProcess('registry', path.join(options.home, 'run'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}${CCOMPAT_PATH}`;
  }

  /** True when the distribution is unpacked and install() runs no Maven. */
  isInstalled(): boolean {
    return fs.existsSync(path.join(this.dir, 'quarkus-run.jar'));
  }

  /** Downloads (once) and unpacks the registry; returns the path of quarkus-run.jar. */
  install(): string {
    const jar = path.join(this.dir, 'quarkus-run.jar');
    if (this.isInstalled()) return jar;
    const archive = fetchArtifactFile(
      { groupId: 'io.apicurio', artifactId: 'apicurio-registry-app', version: APICURIO_VERSION, type: 'tar.gz', classifier: 'all' },
      path.join(this.options.home, 'cache'),
    );
    const partial = `${this.dir}.partial`;
    fs.rmSync(partial, { recursive: true, force: true });
    fs.mkdirSync(partial, { recursive: true });
    const untar = spawnSync('tar', ['xzf', archive, '-C', partial], { encoding: 'utf8' });
    if (untar.status !== 0) throw new StackError(`unpacking ${archive} failed: ${untar.stderr}`);
    const found = findFile(partial, 'quarkus-run.jar');
    if (!found) throw new StackError(`${archive} has no quarkus-run.jar`);
    // Rename only once complete, so an interrupted unpack is never mistaken for an install.
    fs.renameSync(path.dirname(found), this.dir);
    fs.rmSync(partial, { recursive: true, force: true });
    return jar;
  }

  async start(): Promise<void> {
    if (this.process.isRunning()) return this.waitReady();
    // Apicurio 3.3 is compiled for Java 21.
    const java = findJava(21);
    const jar = this.install();
    const db = new URL(this.options.databaseUrl);
    const database = this.options.database ?? 'tidings_registry';
    this.process.start({
      port: this.port,
      command: java,
      args: ['-Xmx384m', '-jar', jar],
      cwd: this.dir,
      env: {
        QUARKUS_HTTP_HOST: '127.0.0.1',
        QUARKUS_HTTP_PORT: String(this.port),
        QUARKUS_MANAGEMENT_HOST: '127.0.0.1',
        QUARKUS_MANAGEMENT_PORT: String(this.managementPort),
        APICURIO_STORAGE_KIND: 'sql',
        APICURIO_STORAGE_SQL_KIND: 'postgresql',
        APICURIO_DATASOURCE_URL: `jdbc:postgresql://${db.hostname}:${db.port || '5432'}/${database}`,
        APICURIO_DATASOURCE_USERNAME: decodeURIComponent(db.username || 'postgres'),
        APICURIO_DATASOURCE_PASSWORD: decodeURIComponent(db.password),
        // Tests give every run its own subjects and clean them up.
        APICURIO_REST_DELETION_ARTIFACT_ENABLED: 'true',
        APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED: 'true',
        APICURIO_REST_DELETION_GROUP_ENABLED: 'true',
      },
    });
    await this.waitReady();
  }

  async stop(): Promise<boolean> {
    return this.process.stop();
  }

  async waitReady(timeoutMs = 120_000): Promise<void> {
    await waitUntil(`schema registry at ${this.url}`, () => isRegistryUp(this.url), {
      timeoutMs,
      intervalMs: 500,
      describeFailure: () =>
        this.process.isRunning() ? `log: ${this.process.logFile}` : `the registry exited; last log lines:\n${this.process.tail()}`,
    });
  }
}

export async function isRegistryUp(url: string): Promise<boolean> {
  // `/config` is cheap; `/subjects` grows with every subject ever registered.
  const response = await fetch(`${url}/config`, { signal: AbortSignal.timeout(5000) });
  return response.ok;
}

function findFile(dir: string, name: string): string | undefined {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return full;
    if (entry.isDirectory()) {
      const found = findFile(full, name);
      if (found) return found;
    }
  }
  return undefined;
}
