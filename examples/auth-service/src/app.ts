import { createHash, randomBytes, randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { EventValidationError, type Outbox } from 'tidings';
import { BadRequestError, clientOf, passwordResetRequest, signupRequest } from './requests.js';
import type { UserRow } from './users.js';

const RESET_LINK_TTL_MS = 60 * 60 * 1000;
const UNIQUE_VIOLATION = '23505';

export interface AppOptions {
  /** The service's knex, on the database that holds Tidings' outbox too. */
  db: Knex;
  outbox: Outbox;
  /** Base of the links in emails, e.g. https://app.example.com. */
  appUrl: string;
}

export function createApp({ db, outbox, appUrl }: AppOptions): express.Express {
  const app = express();
  app.use(express.json());

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // The user row and the USER_REGISTERED event commit together: if the event is refused
  // (say, a locale that is not BCP 47), the user is rolled back and the caller gets a 422.
  app.post('/signup', async (req, res) => {
    const { email, name, locale } = signupRequest(req.body);
    const userId = `usr_${randomUUID()}`;
    await db.transaction(async (trx) => {
      await trx<UserRow>('users').insert({ id: userId, email, name, locale: locale ?? null });
      await outbox.enqueue(trx, 'USER_REGISTERED', {
        event_id: randomUUID(),
        user_id: userId,
        occurred_at: Date.now(),
        recipient: { email, name, ...(locale === undefined ? {} : { locale }) },
        client: clientOf(req),
        signup_method: 'PASSWORD',
        email_verified: false,
      });
    });
    res.status(201).json({ id: userId });
  });

  // Answers 202 whether or not the address has an account, so it cannot be used to probe for one.
  app.post('/password-reset', async (req, res) => {
    const { email } = passwordResetRequest(req.body);
    await db.transaction(async (trx) => {
      const user = await trx<UserRow>('users').where({ email }).forUpdate().first();
      if (user === undefined) return;
      const token = randomBytes(32).toString('base64url');
      const expiresAt = Date.now() + RESET_LINK_TTL_MS;
      await trx<UserRow>('users')
        .where({ id: user.id })
        .update({ password_reset_token_hash: createHash('sha256').update(token).digest('hex'), password_reset_expires_at: new Date(expiresAt) });
      await outbox.enqueue(trx, 'PASSWORD_RESET_REQUESTED', {
        event_id: randomUUID(),
        user_id: user.id,
        occurred_at: Date.now(),
        recipient: { email: user.email, name: user.name, ...(user.locale === null ? {} : { locale: user.locale }) },
        client: clientOf(req),
        reset_url: `${appUrl}/reset-password?token=${token}`,
        expires_at: expiresAt,
      });
    });
    res.status(202).json({ status: 'accepted' });
  });

  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    if (error instanceof BadRequestError) return void res.status(400).json({ error: error.message });
    if (error instanceof EventValidationError) return void res.status(422).json({ error: error.message, field: error.field });
    const { code, status, expose } = error as { code?: unknown; status?: unknown; expose?: unknown };
    if (code === UNIQUE_VIOLATION) return void res.status(409).json({ error: 'an account with this email exists' });
    // express.json()'s own refusals (malformed JSON, a body too large) carry their status.
    if (typeof status === 'number' && status < 500 && expose === true) return void res.status(status).json({ error: (error as Error).message });
    next(error);
  });
  return app;
}
