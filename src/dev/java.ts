import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';

/** Finds a `java` binary of at least `minMajor`: JAVA_HOME, then PATH, then /usr/lib/jvm. */
export function findJava(minMajor: number, env: NodeJS.ProcessEnv = process.env): string {
  const candidates: string[] = [];
  if (env.JAVA_HOME) candidates.push(path.join(env.JAVA_HOME, 'bin', 'java'));
  candidates.push('java');
  const jvmDir = '/usr/lib/jvm';
  if (fs.existsSync(jvmDir)) {
    for (const entry of fs.readdirSync(jvmDir).sort().reverse()) {
      candidates.push(path.join(jvmDir, entry, 'bin', 'java'));
    }
  }
  const seen: string[] = [];
  for (const java of candidates) {
    const major = javaMajor(java);
    if (major === undefined) continue;
    seen.push(`${java} (${major})`);
    if (major >= minMajor) return java;
  }
  throw new StackError(
    `no Java ${minMajor}+ found (looked at JAVA_HOME, PATH and /usr/lib/jvm; found: ${seen.join(', ') || 'none'}). ` +
      `Install a JDK ${minMajor}+ and point JAVA_HOME at it.`,
  );
}

function javaMajor(java: string): number | undefined {
  // `java -version` prints to stderr.
  const result = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return parseMajor(result.stderr);
}

function parseMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 ? Number(match[2]) : first;
}
