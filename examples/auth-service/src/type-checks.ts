/**
 * Compile-time only, never run: proof that Tidings' event types guard this service. Each
 * line under `@ts-expect-error` must fail to compile; if one ever compiles (a type got
 * looser), `npm run build` fails with "Unused '@ts-expect-error' directive".
 */
import type { Knex } from 'knex';
import type { Outbox, PasswordResetRequested, UserRegistered } from 'tidings';
import type { AuthProducer } from 'tidings/producers/auth';

export async function wrongShapes(outbox: Outbox, trx: Knex.Transaction, auth: AuthProducer, registered: UserRegistered, reset: PasswordResetRequested): Promise<void> {
  const { signup_method: _signupMethod, ...withoutSignupMethod } = registered;
  const { reset_url: _resetUrl, ...withoutResetUrl } = reset;

  await outbox.enqueue(trx, 'USER_REGISTERED', registered);
  // @ts-expect-error a required field is missing
  await outbox.enqueue(trx, 'USER_REGISTERED', withoutSignupMethod);
  // @ts-expect-error occurred_at is epoch milliseconds, not a Date
  await outbox.enqueue(trx, 'USER_REGISTERED', { ...registered, occurred_at: new Date() });
  // @ts-expect-error signup_method is an enum of the schema's symbols
  await outbox.enqueue(trx, 'USER_REGISTERED', { ...registered, signup_method: 'MAGIC_LINK' });
  // @ts-expect-error not an event type of the contract
  await outbox.enqueue(trx, 'USER_DELETED', registered);
  // @ts-expect-error the body of another event type
  await outbox.enqueue(trx, 'PASSWORD_RESET_REQUESTED', registered);

  await auth.passwordResetRequested(reset);
  // @ts-expect-error a required field is missing
  await auth.passwordResetRequested(withoutResetUrl);
  // @ts-expect-error expires_at is a number
  await auth.passwordResetRequested({ ...reset, expires_at: '2026-01-01T00:00:00Z' });
  // @ts-expect-error the auth producer has no payment events
  await auth.paymentSucceeded(reset);
}
