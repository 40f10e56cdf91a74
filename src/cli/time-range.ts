import { ConfigError } from '../errors';
import { parseDuration } from '../config/duration';

/**
 * A point in time given on the command line: ISO-8601 (`2026-12-01T10:00:00Z`, `2026-12-01`),
 * `now`, or relative to now (`-2h`, `-30m`, `-7d`, `-90s`) → epoch milliseconds.
 */
export function parseTimePoint(value: string, flag: string, now: number = Date.now()): number {
  const text = value.trim();
  if (text === 'now') return now;
  if (text.startsWith('-')) {
    try {
      return now - parseDuration(text.slice(1), flag);
    } catch {
      throw new ConfigError(`${flag}: "${value}" is not a time: use ISO-8601 (2026-12-01T10:00:00Z), "now", or a time before now such as -2h, -30m, -7d`);
    }
  }
  // Date-only and full ISO-8601 forms; Date.parse alone would also take "12/1/2026" or "Dec 1".
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  throw new ConfigError(`${flag}: "${value}" is not a time: use ISO-8601 (2026-12-01T10:00:00Z), "now", or a time before now such as -2h, -30m, -7d`);
}

export interface TimeRange {
  fromMs?: number;
  toMs?: number;
}

/** `--from` and `--to` together; a `--from` after `--to` is refused with both times. */
export function parseTimeRange(options: { from?: string; to?: string }, now: number = Date.now()): TimeRange {
  const fromMs = options.from === undefined ? undefined : parseTimePoint(options.from, '--from', now);
  const toMs = options.to === undefined ? undefined : parseTimePoint(options.to, '--to', now);
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) {
    throw new ConfigError(`--from (${new Date(fromMs).toISOString()}) is after --to (${new Date(toMs).toISOString()}): swap them`);
  }
  return { ...(fromMs === undefined ? {} : { fromMs }), ...(toMs === undefined ? {} : { toMs }) };
}
