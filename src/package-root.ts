import fs from 'node:fs';
import path from 'node:path';

/**
 * The folder holding Tidings' package.json: the repository root when running the sources
 * (src/…), and node_modules/tidings once installed (the compiled code runs from dist/src/…).
 * Files shipped beside the code, such as the Avro contract in schemas/, are found from here.
 */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

/** True when Tidings runs from a service's node_modules rather than from its own repository. */
export const INSTALLED_AS_DEPENDENCY = PACKAGE_ROOT.split(path.sep).includes('node_modules');

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}: Tidings' files are not where it was installed`);
  }
}
