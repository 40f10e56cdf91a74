import type { Db, Trx } from '../db/database';
import { ConfigError } from '../errors';
import type { EventType } from '../events/generated';
import type { ChannelName } from './channels/channel';
import { ROUTING, type Category, type ChannelRoute, type Route } from './routing';

/**
 * Per-user choices: opt in/out per category and channel (channel `*` = every channel of the
 * category), and quiet hours for non-urgent messages on intrusive channels (SMS, push).
 *
 * The decision, in order: a channel the routing table marks opt-in needs an explicit
 * opt-in; a mandatory notification (security, legal) goes out whatever else the user chose;
 * otherwise the user's choice for (category, channel), then (category, `*`), then "yes".
 */
export type Decision = { send: true } | { send: false; reason: 'opted_out' | 'not_opted_in' };

export interface UserPreferences {
  choices: Map<string, boolean>;
  quietHours?: QuietHours;
}

export interface QuietHours {
  startMinute: number;
  endMinute: number;
  timeZone: string;
}

/** One stored choice; channel `*` stands for every channel of the category. */
export interface Preference {
  category: Category;
  channel: ChannelName | '*';
  optedIn: boolean;
}

/** Quiet hours as users write them: local `HH:MM` start and end, IANA time zone. */
export interface QuietHoursSetting {
  start: string;
  end: string;
  timeZone: string;
}

/** The categories preferences can be keyed on: those the routing table uses. */
export function routedCategories(): Category[] {
  return [...new Set(Object.values(ROUTING).map((route) => route.category))].sort();
}

/**
 * The event types an opt-out of (category, channel) does not stop because they are
 * mandatory, found by asking `decide` itself so this cannot drift from the real decision.
 */
export function mandatoryEventTypes(category: Category, channel: ChannelName | '*'): EventType[] {
  const optedOut: UserPreferences = { choices: new Map([[`${category}:${channel}`, false]]) };
  return (Object.keys(ROUTING) as EventType[]).filter((type) => {
    const route = ROUTING[type];
    return route.category === category && route.channels.some((c) => (channel === '*' || c.channel === channel) && decide(route, c, optedOut).send);
  });
}

export function decide(route: Pick<Route, 'category' | 'mandatory'>, channel: Pick<ChannelRoute<never>, 'channel' | 'optIn'>, prefs: UserPreferences | undefined): Decision {
  const exact = prefs?.choices.get(`${route.category}:${channel.channel}`);
  const wildcard = prefs?.choices.get(`${route.category}:*`);
  if (channel.optIn) return exact === true ? { send: true } : { send: false, reason: 'not_opted_in' };
  if (route.mandatory) return { send: true };
  const choice = exact ?? wildcard ?? true;
  return choice ? { send: true } : { send: false, reason: 'opted_out' };
}

/** Whether `at` falls in the user's quiet hours (which may wrap midnight, e.g. 22:00–07:00). */
export function inQuietHours(quiet: QuietHours, at: Date): boolean {
  const minute = localMinuteOfDay(at, quiet.timeZone);
  return quiet.startMinute <= quiet.endMinute
    ? minute >= quiet.startMinute && minute < quiet.endMinute
    : minute >= quiet.startMinute || minute < quiet.endMinute;
}

/** The first moment after `at` when quiet hours are over. */
export function quietHoursEnd(quiet: QuietHours, at: Date): Date {
  const minute = localMinuteOfDay(at, quiet.timeZone);
  const untilEnd = (quiet.endMinute - minute + 1440) % 1440 || 1440;
  const end = new Date(at.getTime() + untilEnd * 60_000);
  end.setUTCSeconds(0, 0);
  return end;
}

function localMinuteOfDay(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const value = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? '0');
  return value('hour') * 60 + value('minute');
}

/** A local time of day, `00:00` to `23:59`. */
export const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function parseClock(value: string, what: string): number {
  const match = CLOCK.exec(value);
  if (!match) throw new ConfigError(`${what}: "${value}" is not a time of day (HH:MM)`);
  return Number(match[1]) * 60 + Number(match[2]);
}

function formatClock(minuteOfDay: number): string {
  return `${String(Math.floor(minuteOfDay / 60)).padStart(2, '0')}:${String(minuteOfDay % 60).padStart(2, '0')}`;
}

/** The IANA name Intl knows `timeZone` by (`europe/paris` → `Europe/Paris`), or undefined if it knows none. */
export function canonicalTimeZone(timeZone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

export class PreferenceStore {
  constructor(private readonly db: Db) {}

  async set(userId: string, category: Category, channel: ChannelName | '*', optedIn: boolean): Promise<void> {
    await this.db('notification_preferences')
      .insert({ user_id: userId, category, channel, opted_in: optedIn, updated_at: new Date() })
      .onConflict(['user_id', 'category', 'channel'])
      .merge(['opted_in', 'updated_at']);
  }

  async setQuietHours(userId: string, hours: { start: string; end: string; timeZone: string } | null): Promise<void> {
    if (hours === null) {
      await this.clearQuietHours(userId);
      return;
    }
    const timeZone = canonicalTimeZone(hours.timeZone);
    if (timeZone === undefined) throw new ConfigError(`quiet hours: "${hours.timeZone}" is not an IANA time zone`);
    const row = { user_id: userId, start_minute: parseClock(hours.start, 'quiet hours start'), end_minute: parseClock(hours.end, 'quiet hours end'), time_zone: timeZone };
    await this.db('quiet_hours').insert(row).onConflict('user_id').merge();
  }

  /** Removes the choice for (category, channel), so the default applies again; false if there was none. */
  async clear(userId: string, category: Category, channel: ChannelName | '*'): Promise<boolean> {
    return (await this.db('notification_preferences').where({ user_id: userId, category, channel }).delete()) > 0;
  }

  /** Removes the user's quiet hours; false if there were none. */
  async clearQuietHours(userId: string): Promise<boolean> {
    return (await this.db('quiet_hours').where({ user_id: userId }).delete()) > 0;
  }

  /** One user's choices (by category, then channel) and quiet hours, as they were set. */
  async get(userId: string): Promise<{ preferences: Preference[]; quietHours: QuietHoursSetting | null }> {
    const rows: Array<{ category: Category; channel: ChannelName | '*'; opted_in: boolean }> = await this.db('notification_preferences')
      .where({ user_id: userId })
      .orderBy(['category', 'channel']);
    const quiet: { start_minute: number; end_minute: number; time_zone: string } | undefined = await this.db('quiet_hours').where({ user_id: userId }).first();
    return {
      preferences: rows.map((r) => ({ category: r.category, channel: r.channel, optedIn: r.opted_in })),
      quietHours: quiet ? { start: formatClock(quiet.start_minute), end: formatClock(quiet.end_minute), timeZone: quiet.time_zone } : null,
    };
  }

  /** Everything the users of one chunk chose, in two queries. */
  async load(userIds: string[], trx?: Trx): Promise<Map<string, UserPreferences>> {
    const q = trx ?? this.db;
    const out = new Map<string, UserPreferences>();
    if (userIds.length === 0) return out;
    const unique = [...new Set(userIds)];
    const get = (user: string): UserPreferences => {
      let prefs = out.get(user);
      if (!prefs) out.set(user, (prefs = { choices: new Map() }));
      return prefs;
    };
    const rows: Array<{ user_id: string; category: string; channel: string; opted_in: boolean }> = await q('notification_preferences').whereIn('user_id', unique);
    for (const r of rows) get(r.user_id).choices.set(`${r.category}:${r.channel}`, r.opted_in);
    const quiet: Array<{ user_id: string; start_minute: number; end_minute: number; time_zone: string }> = await q('quiet_hours').whereIn('user_id', unique);
    for (const r of quiet) get(r.user_id).quietHours = { startMinute: r.start_minute, endMinute: r.end_minute, timeZone: r.time_zone };
    return out;
  }
}
