/**
 * What personal data and card data look like where Tidings writes text for operators: log
 * lines and span error messages. Named fields (an `email`, a `recipient`) are removed whole;
 * free text (an SMTP server's reply quoting the address, an error echoing a phone number) is
 * scanned for e-mail addresses, E.164 phone numbers and card numbers, which are masked.
 */

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
  'card_number',
  'cardNumber',
  'pan',
  'cvv',
  'cvc',
  'password',
  'token',
  'secret',
  'authorization',
] as const;

/** pino `redact` paths for the fields above. */
export const REDACTED_PATHS: readonly string[] = SENSITIVE_FIELDS.flatMap((field) => [field, `*.${field}`]);

export const REDACTED = '[redacted]';

// Local part and domain as mail systems write them; already-masked `a***@x.org` has a `*` before the `@` and is left alone.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const PHONE = /\+[1-9]\d{6,14}(?!\d)/g;
/**
 * 13 to 19 digits, optionally grouped by single spaces or dashes, not glued to other word
 * characters or dashes (so the digit groups of a UUID or a longer number never match).
 */
const DIGIT_RUN = /(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])/g;

/**
 * A payment card number: 13 to 19 digits that pass the Luhn check and start like a card
 * (2 to 6: Mastercard, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay). The leading
 * digit keeps epoch-millisecond timestamps (13 digits starting with 1) out.
 */
export function isCardNumber(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || digits[0]! < '2' || digits[0]! > '6') return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** `text` with e-mail addresses (domain kept), phone numbers and card numbers masked. */
export function scrubText(text: string): string {
  // Cheap tests first: most log text has no `@`, no `+` and no long digit run.
  let out = text;
  if (out.includes('@')) out = out.replace(EMAIL, (address) => `***${address.slice(address.indexOf('@'))}`);
  if (out.includes('+')) out = out.replace(PHONE, '+***');
  if (/\d{4}/.test(out)) out = out.replace(DIGIT_RUN, (run) => (isCardNumber(run.replace(/[ -]/g, '')) ? '[card]' : run));
  return out;
}

/** Keys whose values are identifiers Tidings generates (hex trace ids may hold long digit runs). */
const TRUSTED_KEYS = new Set(['trace_id', 'span_id', 'trace_flags']);
const MAX_DEPTH = 8;

/**
 * A copy of a log object with every string scrubbed (see scrubText), errors included. Objects
 * nested deeper than a few levels and cycles are cut short.
 */
export function scrubLogObject(object: Record<string, unknown>): Record<string, unknown> {
  return scrubRecord(object, 0, new WeakSet());
}

function scrubRecord(object: Record<string, unknown>, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object)) {
    const value = object[key];
    out[key] = TRUSTED_KEYS.has(key) ? value : scrubValue(value, depth + 1, seen);
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
