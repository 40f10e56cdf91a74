import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';

/**
 * Artifacts come from Maven Central through the user's Maven, so they are downloaded once
 * into the local repository (~/.m2) and shared by every clone; a warm start runs no Maven.
 * Maven's own MAVEN_OPTS applies, e.g. `-Dmaven.repo.local=<folder>` for another repository.
 */
export interface MavenArtifact {
  groupId: string;
  artifactId: string;
  version: string;
}

function mvn(args: string[], cwd: string, what: string): void {
  const result = spawnSync('mvn', ['-q', '-B', ...args], { cwd, encoding: 'utf8' });
  if (result.error) {
    throw new StackError(`${what}: could not run mvn (${result.error.message}); install Apache Maven 3.8+`);
  }
  if (result.status !== 0) {
    throw new StackError(`${what}: mvn exited with ${result.status}\n${(result.stdout + result.stderr).slice(-3000)}`);
  }
}

/** Resolves the runtime classpath of `dependencies`, cached in `<workDir>/classpath.txt`. */
export function resolveClasspath(workDir: string, dependencies: MavenArtifact[]): string[] {
  const cached = cachedClasspath(workDir);
  if (cached) return cached;
  const cpFile = path.join(workDir, 'classpath.txt');
  fs.mkdirSync(workDir, { recursive: true });
  const deps = dependencies
    .map(
      (d) =>
        `<dependency><groupId>${d.groupId}</groupId><artifactId>${d.artifactId}</artifactId><version>${d.version}</version></dependency>`,
    )
    .join('\n    ');
  fs.writeFileSync(
    path.join(workDir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tidings.local</groupId><artifactId>classpath</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    ${deps}
  </dependencies>
</project>
`,
  );
  mvn(['dependency:build-classpath', `-Dmdep.outputFile=${cpFile}`], workDir, 'resolving the Kafka classpath');
  return fs.readFileSync(cpFile, 'utf8').trim().split(path.delimiter);
}

/** The classpath resolveClasspath saved in `workDir`, if every jar on it is still there. */
export function cachedClasspath(workDir: string): string[] | undefined {
  const cpFile = path.join(workDir, 'classpath.txt');
  if (!fs.existsSync(cpFile)) return undefined;
  const jars = fs.readFileSync(cpFile, 'utf8').trim().split(path.delimiter);
  return jars.length > 0 && jars.every((jar) => fs.existsSync(jar)) ? jars : undefined;
}

/** Downloads one artifact file (no transitive dependencies) and returns its path in ~/.m2. */
export function fetchArtifactFile(artifact: MavenArtifact & { type: string; classifier?: string }, workDir: string): string {
  const coordinates = [artifact.groupId, artifact.artifactId, artifact.version, artifact.type, artifact.classifier]
    .filter(Boolean)
    .join(':');
  const fileName = `${artifact.artifactId}-${artifact.version}${artifact.classifier ? `-${artifact.classifier}` : ''}.${artifact.type}`;
  const local = path.join(localRepository(), ...artifact.groupId.split('.'), artifact.artifactId, artifact.version, fileName);
  if (fs.existsSync(local)) return local;
  fs.mkdirSync(workDir, { recursive: true });
  mvn(['dependency:get', '-Dtransitive=false', `-Dartifact=${coordinates}`], workDir, `downloading ${coordinates}`);
  if (!fs.existsSync(local)) throw new StackError(`downloaded ${coordinates} but it is not at ${local}`);
  return local;
}

/** Downloads one artifact (no transitive dependencies) and unpacks it (a jar or zip) into `outputDir`. */
export function unpackArtifact(artifact: MavenArtifact, outputDir: string, workDir: string): void {
  const coordinates = `${artifact.groupId}:${artifact.artifactId}:${artifact.version}`;
  fs.mkdirSync(workDir, { recursive: true });
  mvn(['dependency:unpack', `-Dartifact=${coordinates}`, `-DoutputDirectory=${outputDir}`], workDir, `downloading and unpacking ${coordinates}`);
}

function localRepository(): string {
  const result = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'help:evaluate', '-Dexpression=settings.localRepository', '-DforceStdout'], {
    encoding: 'utf8',
  });
  // Maven 3.8 wraps even this output in colour resets; a path with them in it exists nowhere.
  const repo = result.status === 0 ? result.stdout.replace(/\x1b\[[0-9;]*m/g, '').trim() : '';
  return repo && fs.existsSync(repo) ? repo : path.join(process.env.HOME ?? '/root', '.m2', 'repository');
}
