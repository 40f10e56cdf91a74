/**
 * Calendar arithmetic in a user's IANA time zone through Intl, so offsets and daylight
 * saving transitions come from the runtime's time zone database, never from a table here.
 */

/** A calendar day as `YYYY-MM-DD`. */
export type LocalDate = string;

const DAY_MS = 86_400_000;
const partsFormats = new Map<string, Intl.DateTimeFormat>();

// Constructing an Intl.DateTimeFormat costs ~100 µs; a stream repeats a few hundred zones.
function partsFormat(timeZone: string): Intl.DateTimeFormat {
  let format = partsFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsFormats.set(timeZone, format);
  }
  return format;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallClockOf(epochMs: number, timeZone: string): WallClock {
  const fields: Record<string, number> = {};
  for (const part of partsFormat(timeZone).formatToParts(epochMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? 1970,
    month: fields.month ?? 1,
    day: fields.day ?? 1,
    hour: fields.hour ?? 0,
    minute: fields.minute ?? 0,
    second: fields.second ?? 0,
  };
}

/** How far the zone's wall clock is ahead of UTC at `epochMs`. */
function offsetAt(epochMs: number, timeZone: string): number {
  const w = wallClockOf(epochMs, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/** The calendar day `epochMs` falls on in `timeZone`. */
export function localDateOf(epochMs: number, timeZone: string): LocalDate {
  const w = wallClockOf(epochMs, timeZone);
  return `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}

function parseLocalDate(date: LocalDate): { year: number; month: number; day: number } {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new RangeError(`not a YYYY-MM-DD date: ${JSON.stringify(date)}`);
  return { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
}

export function addDays(date: LocalDate, days: number): LocalDate {
  const { year, month, day } = parseLocalDate(date);
  return new Date(Date.UTC(year, month - 1, day) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The instant at which the wall clock in `timeZone` shows `hour`:00 on `date`. Two offset
 * lookups settle it even across a DST change; an hour skipped by a spring-forward gap
 * resolves to the first instant after the gap.
 */
export function instantAtLocalHour(date: LocalDate, hour: number, timeZone: string): number {
  const { year, month, day } = parseLocalDate(date);
  const wall = Date.UTC(year, month - 1, day, hour);
  const first = wall - offsetAt(wall, timeZone);
  const second = wall - offsetAt(first, timeZone);
  return Math.max(first, second);
}
