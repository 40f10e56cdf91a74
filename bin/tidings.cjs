#!/usr/bin/env node
'use strict';
// The TypeScript sources run directly through tsx's require hook: no build step to forget.
require('tsx/cjs');
require('../src/cli/main.ts')
  .main(process.argv)
  .catch((error) => {
    process.stderr.write(`tidings: ${error && error.message ? error.message : String(error)}\n`);
    process.exit(1);
  });
