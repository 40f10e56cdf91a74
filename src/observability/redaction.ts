/**
 * What personal data and card data look like where Tidings writes text for operators: log
 * lines, span error messages, DLQ error headers and the delivery ledger's error columns.
 * Named fields (an `email`, a `recipient`, a `cvv`) are removed whole; free text (an SMTP
 * server's reply quoting the address, an error echoing a phone number) is scanned for e-mail
 * addresses, E.164 phone numbers and card numbers, which are masked, and, where the event is
 * known, for its personal values (a name the server quoted).
 */
import { isSecretFieldName, replaceCardNumbers } from '../events/card-data';
import { maskValuesIn } from '../events/personal-data';
import { describe } from '../errors';

/** Fields whose value is removed from a logged object, at the top level or one level down. */
const SENSITIVE_FIELDS = [
  'email',
  'phone',
  'recipient',
  'recipients',
  'to',
  'first_name',
  'last_name',
  'full_name',
  'ip',
  'ip_address',
  'user_agent',
  'location',
  'verification_url',
  'reset_url',
  'authorization',
] as const;

/** pino `redact` paths for the fields above (card secrets and credentials: see scrubLogObject). */
export const REDACTED_PATHS: readonly string[] = SENSITIVE_FIELDS.flatMap((field) => [field, `*.${field}`]);

export const REDACTED = '[redacted]';

// Local part and domain as mail systems write them; already-masked `a***@x.org` has a `*` before the `@` and is left alone.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const PHONE = /\+[1-9]\d{6,14}(?!\d)/g;

/** `text` with e-mail addresses (domain kept), phone numbers and card numbers masked. */
export function scrubText(text: string): string {
  // Cheap tests first: most log text has no `@` and no `+`.
  let out = text;
  if (out.includes('@')) out = out.replace(EMAIL, (address) => `***${address.slice(address.indexOf('@'))}`);
  if (out.includes('+')) out = out.replace(PHONE, '+***');
  return replaceCardNumbers(out, () => '[card]');
}

/**
 * `text` with the event's own personal values (`personal`: see maskPersonalData) masked where
 * they are repeated, then scrubbed (scrubText): a server quoting a name is caught by the
 * first, an address of another user by the second.
 */
export function redactText(text: string, personal: readonly string[] = []): string {
  return scrubText(personal.length === 0 ? text : maskValuesIn(text, personal));
}

/** An error's message as Tidings stores it for operators (DLQ header, ledger column): redacted, then cut to `maxLength`. */
export function redactedErrorText(error: unknown, personal: readonly string[] = [], maxLength = 2000): string {
  return redactText(describe(error), personal).slice(0, maxLength);
}

/** Keys whose values are identifiers Tidings generates (hex trace ids may hold long digit runs). */
const TRUSTED_KEYS = new Set(['trace_id', 'span_id', 'trace_flags']);
const MAX_DEPTH = 8;

/**
 * A copy of a log object with every string scrubbed (see scrubText), errors included, and the
 * value of every field named like a card secret or a credential (`cvv`, `password`, `token`,
 * see isSecretFieldName) redacted at any depth. Objects nested deeper than a few levels and
 * cycles are cut short.
 */
export function scrubLogObject(object: Record<string, unknown>): Record<string, unknown> {
  return scrubRecord(object, 0, new WeakSet());
}

function scrubRecord(object: Record<string, unknown>, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (TRUSTED_KEYS.has(key)) out[key] = value;
    else if (isSecretFieldName(key) && (typeof value === 'string' || typeof value === 'number')) out[key] = REDACTED;
    else out[key] = scrubValue(value, depth + 1, seen);
  }
  return out;
}

function scrubValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || value instanceof Date) return value;
  // `seen` holds the objects on the path from the root: a cycle, not a value shared by two fields.
  if (seen.has(value) || depth > MAX_DEPTH) return '[…]';
  seen.add(value);
  try {
    if (value instanceof Error) return scrubError(value, depth, seen);
    return Array.isArray(value) ? value.map((item) => scrubValue(item, depth + 1, seen)) : scrubRecord(value as Record<string, unknown>, depth, seen);
  } finally {
    seen.delete(value);
  }
}

/**
 * A copy of an error with the same class (pino's serializer names it from the prototype), its
 * message, stack, cause and own fields scrubbed: a mail library's error keeps the server's
 * reply, which quotes the address, in a field of its own.
 */
function scrubError(error: Error, depth: number, seen: WeakSet<object>): Error {
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error & Record<string, unknown>;
  for (const key of Object.keys(error)) copy[key] = scrubValue((error as unknown as Record<string, unknown>)[key], depth + 1, seen);
  copy.message = scrubText(error.message);
  if (error.stack !== undefined) copy.stack = scrubText(error.stack);
  if (error.cause !== undefined) copy.cause = scrubValue(error.cause, depth + 1, seen);
  return copy;
}
