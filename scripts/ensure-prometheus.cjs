#!/usr/bin/env node
'use strict';
// The alert rules' tests need `promtool` (check and unit-test the rules) and the `prometheus`
// server (evaluate them against real workers). Both come from Debian's `prometheus` package,
// unpacked into a cache folder rather than installed: installing it would add a system user
// and start a service we do not want. Cache: $TIDINGS_PROMETHEUS_CACHE, else .tidings/prometheus/
// in the repository. Usable as a module (`ensurePrometheus()` → { version, promtool, prometheus })
// and from the command line (prints that as JSON; progress goes to stderr).
const path = require('node:path');
const { ensureUnpacked } = require('./debian-package.cjs');

const PACKAGE = 'prometheus';

function cacheDir() {
  return path.resolve(process.env.TIDINGS_PROMETHEUS_CACHE || path.join(__dirname, '..', '.tidings', 'prometheus'));
}

function ensurePrometheus() {
  // A folder of its own inside the cache, so pointing the cache at a shared place (~/.cache)
  // never lets the unpack replace anything but its own files.
  const { version, files } = ensureUnpacked(PACKAGE, path.join(cacheDir(), 'debian'), "the alert rules' tests", {
    promtool: 'usr/bin/promtool',
    prometheus: 'usr/bin/prometheus',
  });
  return { version, ...files };
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
