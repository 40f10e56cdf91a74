import path from 'node:path';

/** Project root (this file lives in src/dev). */
export const PROJECT_ROOT = path.resolve(__dirname, '../..');

/**
 * Everything the local stack downloads or writes lives under one git-ignored folder:
 * unpacked registry, Kafka classpath, data dirs, logs and pid files.
 */
export function stackHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.TIDINGS_HOME ?? path.join(PROJECT_ROOT, '.tidings'));
}
