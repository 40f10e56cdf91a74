#!/usr/bin/env node
'use strict';
// `npm run build` (and `npm pack`, through prepack): compiles the package into dist/ and
// copies the files the compiled code reads next to it (email and short-message templates).
// It reports on stderr: `npm pack --json` keeps stdout for its JSON.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const started = Date.now();

fs.rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

let assets = 0;
fs.cpSync(path.join(root, 'src'), path.join(dist, 'src'), {
  recursive: true,
  filter(source) {
    if (fs.statSync(source).isDirectory()) return true;
    if (source.endsWith('.ts')) return false;
    assets += 1;
    return true;
  },
});
console.error(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s (${assets} template files copied)`);
