import express, { type ErrorRequestHandler, type Express } from 'express';
import { z } from 'zod';
import type { Db } from '../db/database';
import { RequestValidationError, describe } from '../errors';
import { InAppStore } from '../in-app/in-app-store';
import { LegalRecords, verifyLegalRecord, type LegalRecord } from '../legal/legal-records';
import { CHANNELS } from '../notifications/channels/channel';
import { DEVICE_PLATFORMS, DeviceTokens, type DeviceToken } from '../notifications/providers/device-tokens';
import { CLOCK, PreferenceStore, canonicalTimeZone, mandatoryEventTypes, routedCategories } from '../notifications/preferences';
import { createLogger, type Logger } from '../observability/logger';
import { parseRequest } from './validation';

export interface ApiOptions {
  db: Db;
  /** Largest page `GET …/notifications` returns. Default 100. */
  maxPageSize?: number;
  logger?: Logger;
}

const id = z.string().min(1).max(256);
const userParams = z.object({ userId: id });
const paymentParams = z.object({ paymentId: id });

const categories = routedCategories();
const channelChoices = ['*', ...CHANNELS] as const;
const oneOf = (what: string, known: readonly string[]) => (issue: { input?: unknown }) => `unknown ${what} "${String(issue.input)}" (one of ${known.join(', ')})`;
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

const deviceParams = userParams.extend({
  // FCM registration tokens are about 160 URL-safe characters; APNs and web tokens fit too.
  token: z.string().min(1).max(4096).regex(/^[A-Za-z0-9_:.\-]+$/, { error: 'must be a push registration token (letters, digits, "_", "-", ":", ".")' }),
});
const deviceBody = z.object({ platform: z.enum(DEVICE_PLATFORMS, { error: oneOf('platform', DEVICE_PLATFORMS) }) }).strict();

/** A device as the API shows it: `live` false once the push service called the token unregistered. */
function deviceView(device: DeviceToken): Record<string, unknown> {
  return { token: device.token, platform: device.platform, registeredAt: device.createdAt, lastSeenAt: device.lastSeenAt, live: device.deadAt === null, deadAt: device.deadAt, deadReason: device.deadReason };
}

const flag = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .optional()
  .transform((v) => v === 'true' || v === '1');

const markReadBody = z
  .object({
    ids: z.array(z.number({ error: 'must be a list of notification ids (positive integers)' }).int().positive()).min(1).max(1000).optional(),
    all: z.literal(true, { error: 'must be true' }).optional(),
  })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.all === undefined), { error: 'give either "ids": [...] or "all": true' });

/**
 * The HTTP API: users' in-app notifications (list, unread count, mark read), notification
 * preferences and quiet hours, push device registration, legal records by payment and by
 * user, and a health check.
 * Every input is validated; a bad one gets a 400 naming the field. It has no authentication
 * of its own: run it behind the gateway that authenticates users and operators.
 */
export function createApiApp(options: ApiOptions): Express {
  const { db } = options;
  const store = new InAppStore(db);
  const legal = new LegalRecords(db);
  const preferences = new PreferenceStore(db);
  const devices = new DeviceTokens(db);
  const logger = options.logger ?? createLogger('api');
  const maxPageSize = options.maxPageSize ?? 100;
  const listQuery = z.object({
    limit: z.coerce
      .number({ error: `must be an integer from 1 to ${maxPageSize}` })
      .int({ error: `must be an integer from 1 to ${maxPageSize}` })
      .min(1, { error: `must be an integer from 1 to ${maxPageSize}` })
      .max(maxPageSize, { error: `must be an integer from 1 to ${maxPageSize}` })
      .default(20),
    before: z.coerce.number({ error: 'must be a notification id' }).int().positive({ error: 'must be a notification id' }).optional(),
    unread: flag,
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));

  app.get('/healthz', async (_req, res) => {
    try {
      await db.raw('SELECT 1');
      res.json({ status: 'ok' });
    } catch (error) {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
      logger.warn({ error: describe(error) }, 'health check failed');
    }
  });

  app.get('/users/:userId/notifications', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    const query = parseRequest(listQuery, req.query, 'query');
    const notifications = await store.list(userId, { limit: query.limit, before: query.before, unreadOnly: query.unread });
    // A full page may have more behind it; the client passes this back as `before`.
    const nextBefore = notifications.length === query.limit ? (notifications[notifications.length - 1]?.id ?? null) : null;
    res.json({ notifications, nextBefore });
  });

  app.get('/users/:userId/notifications/unread-count', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    res.json({ userId, unread: await store.unreadCount(userId) });
  });

  app.post('/users/:userId/notifications/read', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    const body = parseRequest(markReadBody, req.body, 'body');
    const marked = await store.markRead(userId, body.all ? 'all' : (body.ids ?? []));
    res.json({ marked, unread: await store.unreadCount(userId) });
  });

  app.get('/users/:userId/preferences', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    res.json({ userId, ...(await preferences.get(userId)), categories, channels: CHANNELS });
  });

  app.put('/users/:userId/preferences/:category/:channel', async (req, res) => {
    const { userId, category, channel } = parseRequest(preferenceParams, req.params, 'params');
    const { optedIn } = parseRequest(preferenceBody, req.body, 'body');
    await preferences.set(userId, category, channel, optedIn);
    // Security and legal notifications go out whatever the user chose: the opt-out is kept
    // (it still silences the category's other notifications) and the answer says what it cannot stop.
    const mandatoryEvents = mandatoryEventTypes(category, channel);
    const note = !optedIn && mandatoryEvents.length > 0 ? `mandatory notifications are sent whatever the user chose: this opt-out does not stop ${mandatoryEvents.join(', ')}` : undefined;
    res.json({ userId, preference: { category, channel, optedIn }, mandatoryEvents, ...(note === undefined ? {} : { note }) });
  });

  app.delete('/users/:userId/preferences/:category/:channel', async (req, res) => {
    const { userId, category, channel } = parseRequest(preferenceParams, req.params, 'params');
    res.json({ userId, category, channel, removed: await preferences.clear(userId, category, channel) });
  });

  app.put('/users/:userId/quiet-hours', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    const quietHours = parseRequest(quietHoursBody, req.body, 'body');
    await preferences.setQuietHours(userId, quietHours);
    res.json({ userId, quietHours });
  });

  app.delete('/users/:userId/quiet-hours', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    res.json({ userId, removed: await preferences.clearQuietHours(userId) });
  });

  app.get('/users/:userId/devices', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    res.json({ userId, devices: (await devices.list(userId)).map(deviceView) });
  });

  app.put('/users/:userId/devices/:token', async (req, res) => {
    const { userId, token } = parseRequest(deviceParams, req.params, 'params');
    const { platform } = parseRequest(deviceBody, req.body, 'body');
    const device = await devices.register(userId, token, platform);
    if (device.deadAt !== null) {
      // A token the push service called unregistered never comes back: the app must get a fresh one.
      res.status(409).json({
        error: 'token_dead',
        message: `token: the push service reported it unregistered (${device.deadReason ?? 'no reason given'}); ask the device's push SDK for a new token`,
        field: 'token',
        device: deviceView(device),
      });
      return;
    }
    res.json({ userId, device: deviceView(device) });
  });

  app.delete('/users/:userId/devices/:token', async (req, res) => {
    const { userId, token } = parseRequest(deviceParams, req.params, 'params');
    res.json({ userId, token, removed: await devices.remove(userId, token) });
  });

  app.get('/legal/payments/:paymentId', async (req, res) => {
    const { paymentId } = parseRequest(paymentParams, req.params, 'params');
    const records = await legal.byPaymentId(paymentId);
    if (records.length === 0) {
      res.status(404).json({ error: 'not_found', message: `no legal records for payment ${paymentId}` });
      return;
    }
    res.json({ paymentId, records: records.map(withVerification) });
  });

  app.get('/legal/users/:userId', async (req, res) => {
    const { userId } = parseRequest(userParams, req.params, 'params');
    res.json({ userId, records: (await legal.byUser(userId)).map(withVerification) });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'no such endpoint' });
  });

  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    if (error instanceof RequestValidationError) {
      res.status(400).json({ error: 'invalid_request', message: error.message, field: error.field, issues: error.issues });
      return;
    }
    if (isBodyParseError(error)) {
      res.status(400).json({ error: 'invalid_request', message: 'body: is not valid JSON', field: 'body' });
      return;
    }
    logger.error({ error: describe(error) }, 'request failed');
    res.status(500).json({ error: 'internal', message: 'the request could not be completed' });
  };
  app.use(onError);
  return app;
}

/** A record as served: with whether its document still matches its stored hash. */
function withVerification(record: LegalRecord): LegalRecord & { verified: boolean } {
  return { ...record, verified: verifyLegalRecord(record) };
}

function isBodyParseError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { type?: unknown }).type === 'entity.parse.failed';
}
