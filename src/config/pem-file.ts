import fs from 'node:fs';
import { ConfigError, describe } from '../errors';

/**
 * The contents of a PEM file (a CA bundle, a certificate or a key) named by `setting`, read at
 * start-up: a file that cannot be read is a ConfigError naming the setting and the path, not
 * a TLS failure later that says neither.
 */
export function readPemFile(file: string, setting: string): Buffer {
  let contents: Buffer;
  try {
    contents = fs.readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${describe(error)}`, error);
  }
  if (!contents.includes('-----BEGIN ')) throw new ConfigError(`${setting}: ${file} is not a PEM file (no "-----BEGIN" line)`);
  return contents;
}
