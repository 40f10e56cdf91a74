#!/usr/bin/env node
'use strict';
// The dashboard's browser test drives Debian's Chromium through playwright-core. This makes
// sure it is there: /usr/bin/chromium, else `apt-get install chromium` (as root), once.
// Usable as a module (`ensureChromium()` → the executable's path) and from the command line.
const fs = require('node:fs');
const { installPackage, isRoot } = require('./debian-package.cjs');

const EXECUTABLE = '/usr/bin/chromium';

function ensureChromium() {
  if (fs.existsSync(EXECUTABLE)) return EXECUTABLE;
  if (!isRoot()) {
    throw new Error(`the dashboard test needs Chromium at ${EXECUTABLE}: install Debian's package with \`sudo apt-get install chromium\``);
  }
  const started = Date.now();
  process.stderr.write('installing Chromium (Debian package `chromium`) for the dashboard test…\n');
  installPackage('chromium');
  if (!fs.existsSync(EXECUTABLE)) throw new Error(`apt-get installed chromium but ${EXECUTABLE} is missing`);
  process.stderr.write(`Chromium installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return EXECUTABLE;
}

module.exports = { ensureChromium, EXECUTABLE };

if (require.main === module) {
  try {
    console.log(ensureChromium());
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
