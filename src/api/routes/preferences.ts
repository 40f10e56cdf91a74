import { z } from 'zod';
import { CHANNELS } from '../../notifications/channels/channel';
import { CLOCK, PreferenceStore, canonicalTimeZone, mandatoryEventTypes, routedCategories } from '../../notifications/preferences';
import { route, type Route, type RouteDeps } from '../route';
import { oneOf, userParams } from './common';

const categories = routedCategories();
const channelChoices = ['*', ...CHANNELS] as const;
const preferenceParams = userParams.extend({
  category: z.enum(categories, { error: oneOf('category', categories) }),
  channel: z.enum(channelChoices, { error: oneOf('channel', channelChoices) }),
});
const preferenceBody = z.object({ optedIn: z.boolean({ error: 'must be true or false' }) }).strict();

const clock = z.string({ error: 'must be a time of day, HH:MM' }).regex(CLOCK, { error: 'must be a time of day, HH:MM' });
const quietHoursBody = z
  .object({
    start: clock,
    end: clock,
    timeZone: z.string({ error: 'must be an IANA time zone, e.g. Europe/Paris' }).transform((value, ctx) => {
      const timeZone = canonicalTimeZone(value);
      if (timeZone === undefined) ctx.addIssue({ code: 'custom', message: `"${value}" is not an IANA time zone` });
      return timeZone ?? value;
    }),
  })
  .strict()
  .refine((b) => b.start !== b.end, { error: 'must differ from start', path: ['end'] });

/** A user's notification preferences (per category and channel) and quiet hours. */
export function preferenceRoutes({ db }: RouteDeps): Route[] {
  const preferences = new PreferenceStore(db);
  return [
    route({
      method: 'get',
      path: '/users/:userId/preferences',
      operationId: 'getPreferences',
      tag: 'preferences',
      summary: "The user's choices and quiet hours, with the categories and channels a UI can offer",
      access: { kind: 'user' },
      params: userParams,
      ok: '`{userId, preferences: [{category, channel, optedIn}], quietHours, categories, channels}`',
      async handle({ params: { userId } }) {
        return { body: { userId, ...(await preferences.get(userId)), categories, channels: CHANNELS } };
      },
    }),
    route({
      method: 'put',
      path: '/users/:userId/preferences/:category/:channel',
      operationId: 'setPreference',
      tag: 'preferences',
      summary: 'Opts the user in or out of a category on a channel (`*`: every channel)',
      description: 'Security and legal notifications go out whatever the user chose: the answer lists those the opt-out cannot stop.',
      access: { kind: 'user' },
      params: preferenceParams,
      body: preferenceBody,
      ok: '`{userId, preference, mandatoryEvents, note?}`',
      async handle({ params: { userId, category, channel }, body: { optedIn } }) {
        await preferences.set(userId, category, channel, optedIn);
        // The opt-out is kept (it still silences the category's other notifications); the answer says what it cannot stop.
        const mandatoryEvents = mandatoryEventTypes(category, channel);
        const note = !optedIn && mandatoryEvents.length > 0 ? `mandatory notifications are sent whatever the user chose: this opt-out does not stop ${mandatoryEvents.join(', ')}` : undefined;
        return { body: { userId, preference: { category, channel, optedIn }, mandatoryEvents, ...(note === undefined ? {} : { note }) } };
      },
    }),
    route({
      method: 'delete',
      path: '/users/:userId/preferences/:category/:channel',
      operationId: 'clearPreference',
      tag: 'preferences',
      summary: 'Forgets a choice: the default applies again',
      access: { kind: 'user' },
      params: preferenceParams,
      ok: '`{userId, category, channel, removed}`',
      async handle({ params: { userId, category, channel } }) {
        return { body: { userId, category, channel, removed: await preferences.clear(userId, category, channel) } };
      },
    }),
    route({
      method: 'put',
      path: '/users/:userId/quiet-hours',
      operationId: 'setQuietHours',
      tag: 'preferences',
      summary: "Sets the user's quiet hours (HH:MM to HH:MM in an IANA time zone)",
      access: { kind: 'user' },
      params: userParams,
      body: quietHoursBody,
      ok: '`{userId, quietHours}` with the time zone under its canonical name',
      async handle({ params: { userId }, body: quietHours }) {
        await preferences.setQuietHours(userId, quietHours);
        return { body: { userId, quietHours } };
      },
    }),
    route({
      method: 'delete',
      path: '/users/:userId/quiet-hours',
      operationId: 'clearQuietHours',
      tag: 'preferences',
      summary: "Removes the user's quiet hours",
      access: { kind: 'user' },
      params: userParams,
      ok: '`{userId, removed}`',
      async handle({ params: { userId } }) {
        return { body: { userId, removed: await preferences.clearQuietHours(userId) } };
      },
    }),
  ];
}
