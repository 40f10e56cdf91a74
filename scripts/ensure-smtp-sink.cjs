#!/usr/bin/env node
'use strict';
// The email benchmark's SMTP endpoint: Postfix's `smtp-sink`, a C server that accepts mail and
// discards it at little CPU cost, so the numbers measure Tidings and nodemailer rather than a
// Node mail catcher sharing the same two cores. From Debian's `postfix` package, unpacked into
// a cache folder (installing it would configure and start a mail system). Cache:
// $TIDINGS_SMTP_SINK_CACHE, else .tidings/postfix/. Usable as a module (`ensureSmtpSink()` →
// { version, smtpSink, libDir }) and from the command line (prints that as JSON).
const path = require('node:path');
const { ensureUnpacked } = require('./debian-package.cjs');

function cacheDir() {
  return path.resolve(process.env.TIDINGS_SMTP_SINK_CACHE || path.join(__dirname, '..', '.tidings', 'postfix'));
}

function ensureSmtpSink() {
  const { version, files } = ensureUnpacked('postfix', path.join(cacheDir(), 'debian'), 'the email benchmark', {
    smtpSink: 'usr/sbin/smtp-sink',
    // Postfix's own shared libraries, which the binary loads from here (LD_LIBRARY_PATH).
    libDir: 'usr/lib/postfix',
  });
  return { version, ...files };
}

module.exports = { ensureSmtpSink };

if (require.main === module) {
  try {
    console.log(JSON.stringify(ensureSmtpSink()));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
