#!/usr/bin/env node
'use strict';
// The alert rules' tests need `promtool` (check and unit-test the rules) and the `prometheus`
// server (evaluate them against real workers). Both come from Debian's `prometheus` package,
// unpacked into a cache folder rather than installed: installing it would add a system user
// and start a service we do not want. Cache: $TIDINGS_PROMETHEUS_CACHE, else .tidings/prometheus/
// in the repository. Usable as a module (`ensurePrometheus()` → { version, promtool, prometheus })
// and from the command line (prints that as JSON; progress goes to stderr).
const fs = require('node:fs');
const path = require('node:path');
const { unpackPackage, unpackedPackage } = require('./debian-package.cjs');

const PACKAGE = 'prometheus';

function cacheDir() {
  return path.resolve(process.env.TIDINGS_PROMETHEUS_CACHE || path.join(__dirname, '..', '.tidings', 'prometheus'));
}

function ensurePrometheus() {
  // A folder of its own inside the cache, so pointing the cache at a shared place (~/.cache)
  // never lets the unpack replace anything but its own files.
  const dir = path.join(cacheDir(), 'debian');
  let unpacked = unpackedPackage(dir);
  if (!unpacked) {
    const started = Date.now();
    process.stderr.write(`fetching Prometheus (Debian package \`${PACKAGE}\`, unpacked into ${dir}) for the alert rules' tests…\n`);
    unpacked = unpackPackage(PACKAGE, dir);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(`Prometheus ${unpacked.version} (${(unpacked.debBytes / 1e6).toFixed(1)} MB) unpacked in ${seconds} s\n`);
  }
  const binaries = { promtool: path.join(dir, 'usr', 'bin', 'promtool'), prometheus: path.join(dir, 'usr', 'bin', 'prometheus') };
  for (const file of Object.values(binaries)) {
    if (!fs.existsSync(file)) throw new Error(`Debian's ${PACKAGE} ${unpacked.version} has no ${path.relative(dir, file)}: delete ${dir} and retry, or check the package`);
  }
  return { version: unpacked.version, ...binaries };
}

module.exports = { ensurePrometheus };

if (require.main === module) {
  try {
    console.log(JSON.stringify(ensurePrometheus()));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
