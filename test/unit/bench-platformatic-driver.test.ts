import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cjs', 'index.cjs');

/** Creates the bench's platformatic driver over `home` in a fresh process on this Node (no broker is contacted); prints the outcome. */
function createPlatformaticClient(home: string): { ok: boolean; code?: string; message?: string } {
  const script = `
    const { platformaticDriver } = require(${JSON.stringify(path.join(root, 'bench', 'clients', 'platformatic-driver.ts'))});
    try {
      platformaticDriver({ brokers: ['127.0.0.1:9'] }, ${JSON.stringify(home)});
      console.log(JSON.stringify({ ok: true }));
    } catch (error) {
      console.log(JSON.stringify({ ok: false, code: error.code, message: error.message }));
    }`;
  const run = spawnSync(process.execPath, ['--require', tsx, '-e', script], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`child failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as { ok: boolean; code?: string; message?: string };
}

describe("the bench's @platformatic/kafka driver", () => {
  // `npm run test:node-lines` runs this under every declared line: 20 takes the first branch, 22+ the second.
  const hasWithResolvers = typeof (Promise as { withResolvers?: unknown }).withResolvers === 'function';
  let empty: string;
  beforeAll(() => {
    empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-no-platformatic-'));
  });
  afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

  it(`is refused with a ConfigError naming ${hasWithResolvers ? 'the folder it is missing from' : 'the Node.js it needs'} on Node ${process.versions.node}`, () => {
    const outcome = createPlatformaticClient(empty);
    expect(outcome.ok).toBe(false);
    expect(outcome.code).toBe('CONFIG_INVALID');
    if (hasWithResolvers) {
      expect(outcome.message).toContain(`is not installed in ${empty}`);
      expect(outcome.message).toMatch(/kafka-client scenario installs it/);
    } else {
      expect(outcome.message).toMatch(/needs Node\.js 22 or later/);
      expect(outcome.message).toContain(process.version);
    }
  });
});
