import { ConfigError } from '../errors';

/** A `--port` value: an integer from 0 (any free port) to 65535. */
export function parsePort(value: string, flag = '--port'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${flag} must be a port number from 0 to 65535 (got "${value}")`);
  return n;
}

/** A whole number from `min` to `max`, e.g. `--partitions-concurrency`. */
export function parseWholeNumber(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || n < min || n > max) throw new ConfigError(`${flag} must be a whole number from ${min} to ${max} (got "${value}")`);
  return n;
}
