import { ConfigError } from '../errors';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `10s`, `1m`, `1h`, `2d` or a bare number of milliseconds → milliseconds. */
export function parseDuration(value: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`${what}: "${value}" is not a duration (e.g. 500ms, 10s, 1m, 1h)`);
  return Math.round(Number(match[1]) * (UNITS[match[2] ?? 'ms'] ?? 1));
}

/** A comma-separated list of durations, e.g. `10s,1m,10m,1h`. */
export function parseDurations(value: string, what: string): number[] {
  const list = value.split(',').map((part) => parseDuration(part, what));
  if (list.length === 0) throw new ConfigError(`${what}: give at least one duration`);
  return list;
}
