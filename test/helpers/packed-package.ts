import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * The package as a user gets it: `npm pack` of the repository, installed by the services in
 * examples/ copied outside the repository, and processes run from that install.
 */
const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

export interface PackedTarball {
  tarball: string;
  /** Bytes of the .tgz. */
  size: number;
  files: number;
}

/** `npm pack` into `destination`; prepack builds dist/ first, so this is the tarball of the current sources. */
export async function packRepository(destination: string): Promise<PackedTarball> {
  const { stdout } = await run('npm', ['pack', '--pack-destination', destination, '--json'], { cwd: ROOT, env: childEnv(), maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout) as [{ filename: string; size: number; entryCount: number }];
  return { tarball: path.join(destination, packed.filename), size: packed.size, files: packed.entryCount };
}

/**
 * Copies examples/<name> into `parent` and installs its dependencies there, with the tarball
 * in place of the `tidings` range (packages come from npm's cache when it has them).
 */
export async function installExample(name: 'auth-service' | 'payment-service', tarball: string, parent: string): Promise<string> {
  const dir = path.join(parent, name);
  const source = path.join(ROOT, 'examples', name);
  // A developer's local install or build of the example is not part of it.
  fs.cpSync(source, dir, { recursive: true, filter: (file) => !/^(node_modules|dist)$/.test(path.basename(file)) || path.dirname(file) !== source });
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: dir, env: childEnv(), maxBuffer: 64 * 1024 * 1024 });
  return dir;
}

/**
 * The environment of a child process: the test's own, less jest's NODE_OPTIONS (a service
 * is started as `node …`, not under jest's flags), plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _jestFlags, ...env } = process.env;
  return { ...env, ...extra };
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningProcess {
  child: ChildProcess;
  /** Resolves when the process has ended; never rejects. */
  exited: Promise<Finished>;
  /** Resolves with the first whole stdout line `matches` accepts; rejects if the process ends first. */
  line(matches: (line: string) => boolean, what: string): Promise<string>;
  /** SIGTERM, then how the process ended. */
  stop(): Promise<Finished>;
}

/** Starts `node script args…` with the given Node binary. */
export function startNode(node: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): RunningProcess {
  const child = spawn(node, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => boolean>();
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const check of waiters) if (check()) waiters.delete(check);
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Finished>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, stdout, stderr: `${stderr}${String(error)}` }));
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    exited,
    line(matches, what) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = stdout.split('\n').slice(0, -1).find(matches);
          if (found !== undefined) resolve(found);
          return found !== undefined;
        };
        if (check()) return;
        waiters.add(check);
        void exited.then((end) => reject(new Error(`${what}: the process ended (code ${end.code}, signal ${end.signal}) first\n${end.stdout.slice(-4000)}${end.stderr.slice(-4000)}`)));
      });
    },
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs `node script args…` to completion. */
export function runNode(node: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Finished> {
  return startNode(node, args, options).exited;
}
