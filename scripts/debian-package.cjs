'use strict';
// Debian packages for test tools: installed system-wide with apt-get (Chromium, which brings
// its own libraries) or unpacked into a folder without installing anything (Prometheus, whose
// package would also create a user and start a service). Every apt/dpkg call goes through `run`.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Runs a command quietly; returns its stdout, or throws with the tail of its output. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) throw new Error(`\`${command}\` could not run: ${result.error.message}`);
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-5).join('\n');
    throw new Error(`\`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal}):\n${output}`);
  }
  return result.stdout;
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** `apt-get install <name>` after refreshing the package lists; needs root. */
function installPackage(name) {
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', name]);
}

/** Written into an unpacked package's folder last: its presence means the unpack finished. */
const MANIFEST = '.debian-package.json';

/** What `unpackPackage` left in `dir` ({ name, version, debBytes }), or undefined when it has not finished there. */
function unpackedPackage(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Downloads the `.deb` of `name` (the candidate version apt knows) and unpacks its files into
 * `dir` with `dpkg-deb -x`: nothing is installed, no maintainer script runs. The package lists
 * are refreshed first only when the download fails without them (a fresh container), which
 * needs root. Unpacked beside `dir` and renamed into place once complete, so an interrupted
 * run is never taken for a finished one. Returns what was fetched, for progress reports.
 */
function unpackPackage(name, dir) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `deb-${name}-`));
  try {
    try {
      run('apt-get', ['download', '-qq', name], { cwd: scratch });
    } catch (error) {
      if (!isRoot()) throw new Error(`${error.message}\n(run \`sudo apt-get update\` if the package lists are missing)`);
      run('apt-get', ['update', '-qq']);
      run('apt-get', ['download', '-qq', name], { cwd: scratch });
    }
    const deb = fs.readdirSync(scratch).find((file) => file.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${name} left no .deb file`);
    const debPath = path.join(scratch, deb);
    const version = run('dpkg-deb', ['--field', debPath, 'Version']).trim();
    const partial = `${dir}.partial-${process.pid}`;
    fs.rmSync(partial, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    run('dpkg-deb', ['-x', debPath, partial]);
    const unpacked = { name, version, debBytes: fs.statSync(debPath).size };
    fs.writeFileSync(path.join(partial, MANIFEST), `${JSON.stringify(unpacked)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(partial, dir);
    return unpacked;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * `name` unpacked into `dir` (fetched on first use, with progress on stderr naming `purpose`),
 * and the absolute paths of `files` (relative to the package root) that must be in it.
 * Returns { version, files: { key: absolute path } }.
 */
function ensureUnpacked(name, dir, purpose, files) {
  let unpacked = unpackedPackage(dir);
  if (!unpacked) {
    const started = Date.now();
    process.stderr.write(`fetching Debian package \`${name}\` (unpacked into ${dir}) for ${purpose}…\n`);
    unpacked = unpackPackage(name, dir);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(`${name} ${unpacked.version} (${(unpacked.debBytes / 1e6).toFixed(1)} MB) unpacked in ${seconds} s\n`);
  }
  const paths = {};
  for (const [key, relative] of Object.entries(files)) {
    paths[key] = path.join(dir, relative);
    if (!fs.existsSync(paths[key])) throw new Error(`Debian's ${name} ${unpacked.version} has no ${relative}: delete ${dir} and retry, or check the package`);
  }
  return { version: unpacked.version, files: paths };
}

module.exports = { run, isRoot, installPackage, unpackPackage, unpackedPackage, ensureUnpacked };
