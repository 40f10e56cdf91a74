#!/usr/bin/env node
'use strict';
// The replay benchmark's baseline reader: `kcat` (librdkafka's command-line client, C), from
// Debian's `kcat` package and the two libraries it needs that a base system lacks
// (`librdkafka1`, `libyajl2`), each unpacked into a cache folder rather than installed.
// Cache: $TIDINGS_KCAT_CACHE, else .tidings/kcat/. Usable as a module (`ensureKcat()` →
// { version, kcat, libraryPath }) and from the command line (prints that as JSON).
const path = require('node:path');
const { ensureUnpacked } = require('./debian-package.cjs');

const LIB = 'usr/lib/x86_64-linux-gnu';

function cacheDir() {
  return path.resolve(process.env.TIDINGS_KCAT_CACHE || path.join(__dirname, '..', '.tidings', 'kcat'));
}

function ensureKcat() {
  if (process.arch !== 'x64') throw new Error(`the kcat baseline is set up for x86-64 Debian; this machine is ${process.arch}`);
  const purpose = 'the replay benchmark';
  const { version, files } = ensureUnpacked('kcat', path.join(cacheDir(), 'kcat'), purpose, { kcat: 'usr/bin/kcat' });
  const libraries = ['librdkafka1', 'libyajl2'].map((name) => ensureUnpacked(name, path.join(cacheDir(), name), purpose, { lib: LIB }).files.lib);
  return { version, kcat: files.kcat, libraryPath: libraries.join(path.delimiter) };
}

module.exports = { ensureKcat };

if (require.main === module) {
  try {
    console.log(JSON.stringify(ensureKcat()));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
