import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';
import { unpackArtifact } from './maven';

/**
 * PostgreSQL server binaries from Maven Central: zonky's `embedded-postgres-binaries-<platform>`
 * jars hold one `.txz` with `bin/` (initdb, pg_ctl, postgres), `lib/` and `share/`, built to
 * run from any folder. Fetched through Maven like the Kafka jars, so they land once in the
 * local Maven repository.
 */
export const POSTGRES_BINARIES_VERSION = '17.5.0';
const GROUP_ID = 'io.zonky.test.postgres';

export interface PlatformInfo {
  platform: NodeJS.Platform;
  arch: string;
  /** Linux with musl libc (Alpine) rather than glibc. */
  musl: boolean;
}

export function currentPlatform(): PlatformInfo {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return { platform: process.platform, arch: process.arch, musl: process.platform === 'linux' && !header?.glibcVersionRuntime };
}

/** The artifact for a platform; an unsupported one gets an error that names the way out (DATABASE_URL). */
export function binariesArtifactId({ platform, arch, musl }: PlatformInfo): string {
  const suffixes: Record<string, string | undefined> = {
    'linux-x64': musl ? 'linux-amd64-alpine' : 'linux-amd64',
    'linux-arm64': musl ? 'linux-arm64v8-alpine' : 'linux-arm64v8',
    'darwin-x64': 'darwin-amd64',
    'darwin-arm64': 'darwin-arm64v8',
  };
  const suffix = suffixes[`${platform}-${arch}`];
  if (!suffix) {
    throw new StackError(
      `no embedded PostgreSQL for ${platform}-${arch} (Maven Central's ${GROUP_ID} binaries cover Linux and macOS on x64 and arm64): ` +
        'run a PostgreSQL server yourself and set DATABASE_URL to it',
    );
  }
  return `embedded-postgres-binaries-${suffix}`;
}

/** Where `bin/postgres` will be once installed into `dir`. */
export function postgresExecutable(dir: string): string {
  return path.join(dir, 'bin', 'postgres');
}

/** Downloads (once) and unpacks the binaries into `dir`, readable by every user; returns `dir`. */
export function installPostgresBinaries(dir: string, target: PlatformInfo = currentPlatform()): string {
  if (fs.existsSync(postgresExecutable(dir))) return dir;
  const artifactId = binariesArtifactId(target);
  const partial = `${dir}.partial`;
  const jarDir = path.join(partial, 'jar');
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(jarDir, { recursive: true });
  // Maven runs in the scratch folder: without a pom, the unpack goal leaves its markers in a literal "${project.basedir}" there.
  unpackArtifact({ groupId: GROUP_ID, artifactId, version: POSTGRES_BINARIES_VERSION }, jarDir, partial);
  const txz = fs.readdirSync(jarDir).find((name) => name.endsWith('.txz'));
  if (!txz) throw new StackError(`${artifactId} ${POSTGRES_BINARIES_VERSION} holds no .txz archive`);
  const tree = path.join(partial, 'tree');
  fs.mkdirSync(tree);
  // The archive's owner ids mean nothing here; as root, tar would keep them.
  const untar = spawnSync('tar', ['--no-same-owner', '-xJf', path.join(jarDir, txz), '-C', tree], { encoding: 'utf8' });
  if (untar.error || untar.status !== 0) {
    const noXz = spawnSync('xz', ['--version']).error !== undefined;
    throw new StackError(
      `unpacking ${txz} failed: ${untar.error?.message ?? untar.stderr.trim()}` +
        (noXz ? '; tar needs the xz program for .txz archives: install it (Debian/Ubuntu: apt-get install xz-utils)' : ''),
    );
  }
  makeReadableByAll(tree);
  // Renamed only once complete, so an interrupted unpack is never taken for an install.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tree, dir);
  fs.rmSync(partial, { recursive: true, force: true });
  return dir;
}

/** The server may run as another (unprivileged) user than the one who unpacked it. */
function makeReadableByAll(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) makeReadableByAll(full);
    else if (entry.isFile()) fs.chmodSync(full, fs.statSync(full).mode | 0o444);
  }
}
