import path from 'node:path';
import { INSTALLED_AS_DEPENDENCY, PACKAGE_ROOT } from '../package-root';

/** Where bin/tidings.cjs is: the repository, or node_modules/tidings once installed. */
export const PROJECT_ROOT = PACKAGE_ROOT;

/**
 * Everything the local stack downloads or writes lives under one git-ignored folder:
 * unpacked registry, Kafka classpath, data dirs, logs and pid files.
 */
export function stackHome(env: NodeJS.ProcessEnv = process.env): string {
  // An installed package keeps nothing inside node_modules: the stack lives in the service's folder.
  const base = INSTALLED_AS_DEPENDENCY ? process.cwd() : PROJECT_ROOT;
  return path.resolve(env.TIDINGS_HOME ?? path.join(base, '.tidings'));
}
