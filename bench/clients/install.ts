import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The version measured (docs/kafka-client.md); a new one is a new measurement. */
export const PLATFORMATIC_VERSION = '2.12.1';
const PACKAGE = '@platformatic/kafka';

/** Where the bench keeps its own install of the client (TIDINGS_BENCH_CLIENTS_CACHE, default .tidings/bench-clients). */
export function platformaticHome(): string {
  const root = path.resolve(__dirname, '..', '..');
  const cache = path.resolve(process.env.TIDINGS_BENCH_CLIENTS_CACHE || path.join(root, '.tidings', 'bench-clients'));
  return path.join(cache, `platformatic-kafka-${PLATFORMATIC_VERSION}`);
}

/** The installed package's folder, or undefined when `home` does not hold this version. */
export function installedPlatformatic(home: string): string | undefined {
  const dir = path.join(home, 'node_modules', ...PACKAGE.split('/'));
  try {
    const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string };
    return version === PLATFORMATIC_VERSION ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Installs @platformatic/kafka into the bench's cache from the npm registry the first time
 * (npm, lock-free, outside the project's node_modules: it declares Node >= 22.22, which
 * Tidings' own dependencies must not); returns the folder to load it from.
 */
export function ensurePlatformatic(progress: (line: string) => void): string {
  const home = platformaticHome();
  const ready = installedPlatformatic(home);
  if (ready) return home;
  progress(`  installing ${PACKAGE}@${PLATFORMATIC_VERSION} into ${home}`);
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'package.json'), `${JSON.stringify({ private: true, description: 'the bench kafka-client scenario\'s own install', dependencies: { [PACKAGE]: PLATFORMATIC_VERSION } }, null, 2)}\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const run = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--no-package-lock', '--omit=dev', '--engine-strict=false'], { cwd: home, encoding: 'utf8' });
  if (run.status !== 0 || !installedPlatformatic(home)) {
    throw new Error(`npm install ${PACKAGE}@${PLATFORMATIC_VERSION} in ${home} failed (${run.error?.message ?? `exit ${run.status}`}): ${(run.stderr || run.stdout).trim().slice(-2_000)}`);
  }
  return home;
}
