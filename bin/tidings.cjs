#!/usr/bin/env node
'use strict';
// The `tidings` command. An installed package runs its compiled JavaScript (dist/); a
// checkout of the repository runs the TypeScript sources through tsx, a dev dependency,
// so there is no build step to forget while developing.
const fs = require('node:fs');
const path = require('node:path');

const source = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
function loadCli() {
  if (fs.existsSync(source)) {
    require('tsx/cjs');
    return require(source);
  }
  return require('../dist/src/cli/main.js');
}

loadCli()
  .main(process.argv)
  .catch((error) => {
    process.stderr.write(`tidings: ${error && error.message ? error.message : String(error)}\n`);
    process.exit(1);
  });
