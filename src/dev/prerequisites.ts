import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StackError, describe } from '../errors';
import { findJava } from './java';
import { PROJECT_ROOT } from './paths';
import { portHolder } from './ports';

/**
 * What `tidings dev up` (and so `npm start` and `npm test`) needs from the machine, checked
 * before anything is downloaded or started, with one line per problem naming its fix. Only
 * what this run needs is checked: no JDK when Kafka and the registry are already running.
 */
export interface Requirements {
  /** Components the stack will start with Java, and the Java release each needs. */
  java: Array<{ component: string; minMajor: number }>;
  /** Components whose files must first come from Maven Central. */
  downloads: string[];
  /** Loopback ports the stack will listen on, what should be there, and what to do when something else is. */
  ports: Array<{ port: number; expected: string; fix: string }>;
}

export async function checkPrerequisites(requirements: Requirements): Promise<void> {
  const problems = [
    checkNode(process.versions.node, packageEngines()),
    ...requirements.java.map(({ component, minMajor }) => checkJava(component, minMajor)),
    requirements.downloads.length > 0 ? checkMaven(requirements.downloads) : undefined,
    ...(await Promise.all(requirements.ports.map(({ port, expected, fix }) => checkPort(port, expected, fix)))),
  ].filter((problem): problem is string => problem !== undefined);
  if (problems.length > 0) {
    throw new StackError(`the local stack cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** A problem line when `version` is outside `engines` (package.json's range), else undefined. */
export function checkNode(version: string, engines: string): string | undefined {
  if (satisfiesEngines(version, engines)) return undefined;
  return `Node.js ${version} is not one Tidings supports (package.json engines: "${engines}"): install Node.js ${describeRange(engines)}, e.g. with nvm`;
}

/**
 * True when `version` satisfies `range`, an `||` list of `^X.Y.Z` or `>=X.Y.Z` terms, the
 * forms Tidings' own package.json uses. Read here rather than with the semver package, a
 * development dependency that a service's install of Tidings does not have.
 */
export function satisfiesEngines(version: string, range: string): boolean {
  const v = parseVersion(version);
  if (!v) throw new StackError(`cannot read the version "${version}"`);
  return range.split('||').some((term) => {
    const match = /^\s*(\^|>=)\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(term);
    if (!match) throw new StackError(`package.json engines: "${term.trim()}" is not a ^X.Y.Z or >=X.Y.Z term`);
    const floor = [Number(match[2]), Number(match[3] ?? 0), Number(match[4] ?? 0)] as const;
    if (compare(v, floor) < 0) return false;
    return match[1] === '>=' || v[0] === floor[0];
  });
}

/** `^20.19.0 || ^22.13.0 || ^24.0.0` → `20.19+, 22.13+ or 24`. */
function describeRange(range: string): string {
  const parts = range.split('||').map((term) => {
    const [major = 0, minor = 0] = parseVersion(term.replace(/^[\s^>=]+/, '')) ?? [];
    if (term.includes('>=')) return `${major}.${minor} or later`;
    return minor > 0 ? `${major}.${minor}+` : String(major);
  });
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}` : (parts[0] ?? range);
}

function parseVersion(text: string): [number, number, number] | undefined {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text.trim());
  return match ? [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)] : undefined;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

function packageEngines(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  return pkg.engines?.node ?? '>=0';
}

export function checkJava(component: string, minMajor: number, env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    findJava(minMajor, env);
    return undefined;
  } catch (error) {
    return `${component} needs Java ${minMajor}+: ${describe(error)}`;
  }
}

export function checkMaven(downloads: string[], command = 'mvn'): string | undefined {
  const result = spawnSync(command, ['-v'], { encoding: 'utf8' });
  if (!result.error && result.status === 0) return undefined;
  const why = result.error ? `"${command}" is not on the PATH` : `"${command} -v" exited with ${result.status}`;
  return (
    `Apache Maven is needed to download ${downloads.join(', ')} from Maven Central, but ${why}: ` +
    'install Maven 3.8+ (Debian/Ubuntu: apt-get install maven; macOS: brew install maven)'
  );
}

/** A problem line when something already listens on the loopback `port` that `expected` (e.g. "a Kafka broker") needs. */
export async function checkPort(port: number, expected: string, fix: string): Promise<string | undefined> {
  const holder = await portHolder(port);
  if (!holder) return undefined;
  return `port ${port} is held by ${holder.description}, which is not ${expected}: ${fix}`;
}
