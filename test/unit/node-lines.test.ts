import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { declaredNodeLines, nodeLinesScript } from '../helpers/node-lines';

const root = path.resolve(__dirname, '../..');

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as T;
}

function runScript(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [nodeLinesScript, ...args], { cwd: root, encoding: 'utf8' });
}

describe('declared Node.js lines', () => {
  it('the engines range the script prints is the one package.json declares', () => {
    const printed = runScript(['engines']);
    expect(printed.status).toBe(0);
    const { engines } = readJson<{ engines: { node: string } }>('package.json');
    expect(printed.stdout.trim()).toBe(engines.node);
  });

  it('every locked package that names a Node range admits the minimum of each declared line', () => {
    const lock = readJson<{ packages: Record<string, { version?: string; engines?: { node?: unknown } }> }>(
      'package-lock.json',
    );
    const refusals: string[] = [];
    for (const [location, entry] of Object.entries(lock.packages)) {
      const range = entry.engines?.node;
      if (location === '' || typeof range !== 'string') continue;
      for (const { minimum } of declaredNodeLines) {
        if (!semver.satisfies(minimum, range)) {
          refusals.push(`${location}@${entry.version ?? '?'} needs node ${range}, refusing ${minimum}`);
        }
      }
    }
    expect(refusals).toEqual([]);
  });

  it('each line pins a release of that line at or above its minimum', () => {
    for (const { line, minimum, pinned } of declaredNodeLines) {
      expect({ line, minimumMajor: semver.major(minimum), pinnedMajor: semver.major(pinned) }).toEqual({
        line,
        minimumMajor: line,
        pinnedMajor: line,
      });
      expect(semver.gte(pinned, minimum)).toBe(true);
    }
  });

  it('an unknown command is refused with the usage line', () => {
    const result = runScript(['download']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown command "download"');
    expect(result.stderr).toContain('usage: node scripts/node-lines.cjs list [--json] | test [jest args…] | engines');
  });
});
