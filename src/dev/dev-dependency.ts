import { StackError } from '../errors';

/**
 * Loads a package only the local stack uses (the SMTP catcher's `smtp-server` and
 * `mailparser`). They are development dependencies of Tidings, absent from a service's
 * production install, so they are loaded when a `tidings dev` command needs them and a
 * missing one is named with the command that adds it.
 */
export function requireDevDependency<T>(name: string, usedBy: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !String((error as Error).message).includes(`'${name}'`)) throw error;
    throw new StackError(`${usedBy} needs the package "${name}", a development dependency of Tidings that this install does not have: npm install --save-dev ${name}`, error);
  }
}
