/**
 * Business rules declared in the .avsc files as `tidings.*` field attributes. Avro itself
 * ignores unknown attributes, so the schema stays the one contract every language reads.
 */
import net from 'node:net';
import { PERSONAL_ATTRIBUTE } from './personal-data';
import type { AvroField } from './schema-source';

export const RULE_PREFIX = 'tidings.';

interface Format {
  test(value: string): boolean;
  expected: string;
  /** PII or secrets: the offending value is never echoed into error messages (they reach logs and DLQ headers). */
  sensitive: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
// Pragmatic address shape (what mail providers accept), not the full RFC 5322 grammar.
const EMAIL = /^[^\s@"<>(),;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const DIGITS4 = /^\d{4}$/;
/**
 * The start of an http(s) URL that the WHATWG parser surely accepts, so it need not run:
 * a host of dot-separated letters, digits and hyphens whose last label starts with a letter
 * (else it may be read as an IPv4 number) and none is an IDNA `xn--` label (the parser
 * decodes those and may refuse them), an optional port below 10000, then the end or a path,
 * query or fragment, whose parsing cannot fail. IP literals, user info, other ports and
 * non-ASCII hosts are left to the parser.
 */
const PLAIN_HTTP_URL = /^https?:\/\/(?:(?![xX][nN]--)[A-Za-z0-9-]+\.)*(?![xX][nN]--)[A-Za-z][A-Za-z0-9-]*(?::\d{1,4})?(?:[/?#]|$)/;

let currencies: ReadonlySet<string> | undefined;
function isCurrency(value: string): boolean {
  currencies ??= new Set(Intl.supportedValuesOf('currency'));
  return currencies.has(value);
}

function throwsRangeError(run: () => unknown): boolean {
  try {
    run();
    return false;
  } catch {
    return true;
  }
}

/**
 * Intl checks cost microseconds (a DateTimeFormat ~100 µs) and real streams repeat a few
 * hundred zones and locales, so accepted values are remembered. Rejected ones are not, and the
 * set is capped, so garbage input cannot grow memory.
 */
function remembered(check: (value: string) => boolean, limit = 2_000): (value: string) => boolean {
  const accepted = new Set<string>();
  return (value) => {
    if (accepted.has(value)) return true;
    const ok = check(value);
    if (ok && accepted.size < limit) accepted.add(value);
    return ok;
  };
}

function isHttpUrl(value: string): boolean {
  if (PLAIN_HTTP_URL.test(value)) return true;
  // Not URL.canParse: on Node 20, once optimised (a few thousand calls), it answers false for
  // valid URLs with a non-ASCII host that it accepted before.
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}

export const FORMATS: Readonly<Record<string, Format>> = {
  uuid: { test: (v) => UUID.test(v), expected: 'a UUID', sensitive: false },
  email: { test: (v) => v.length <= 254 && EMAIL.test(v), expected: 'an email address', sensitive: true },
  e164: { test: (v) => E164.test(v), expected: 'an E.164 phone number like +14155550123', sensitive: true },
  iso4217: { test: isCurrency, expected: 'an ISO-4217 currency code like EUR', sensitive: false },
  url: { test: isHttpUrl, expected: 'an absolute http(s) URL', sensitive: true },
  digits4: { test: (v) => DIGITS4.test(v), expected: 'exactly 4 digits', sensitive: true },
  ip: { test: (v) => net.isIP(v) !== 0, expected: 'an IPv4 or IPv6 address', sensitive: false },
  bcp47: {
    test: remembered((v) => !throwsRangeError(() => Intl.getCanonicalLocales(v))),
    expected: 'a BCP 47 locale like en-US',
    sensitive: false,
  },
  iana_time_zone: {
    test: remembered((v) => !throwsRangeError(() => new Intl.DateTimeFormat('en-US', { timeZone: v }))),
    expected: 'an IANA time zone like Europe/Lisbon',
    sensitive: false,
  },
};

export const RULE_ATTRIBUTES: ReadonlySet<string> = new Set(['tidings.format', 'tidings.min', 'tidings.minLength']);

/** Throws when a field carries a `tidings.*` attribute nobody reads, so a typo cannot disable a rule or unmask a field. */
export function assertKnownRules(field: AvroField, where: string): void {
  for (const [key, value] of Object.entries(field)) {
    if (!key.startsWith(RULE_PREFIX)) continue;
    if (key === PERSONAL_ATTRIBUTE) {
      if (value !== true) throw new Error(`${where}.${field.name}: ${PERSONAL_ATTRIBUTE} must be true (or absent)`);
      continue;
    }
    if (!RULE_ATTRIBUTES.has(key)) throw new Error(`${where}.${field.name}: unknown rule attribute "${key}"`);
    if (key === 'tidings.format' && (typeof value !== 'string' || !(value in FORMATS))) {
      throw new Error(`${where}.${field.name}: unknown tidings.format ${JSON.stringify(value)}`);
    }
    if (key !== 'tidings.format' && typeof value !== 'number') {
      throw new Error(`${where}.${field.name}: ${key} must be a number`);
    }
  }
}

function shown(value: string, format: Format | undefined): string {
  if (format?.sensitive) return `${value.length} characters`;
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** A field's rules, read from its attributes once rather than on every event. */
export interface FieldRules {
  readonly min: number | undefined;
  readonly minLength: number | undefined;
  readonly format: Format | undefined;
}

/** The rules of `field`, or undefined when it has none. */
export function rulesOf(field: AvroField): FieldRules | undefined {
  const formatName = field['tidings.format'];
  const format = typeof formatName === 'string' ? FORMATS[formatName] : undefined;
  const min = typeof field['tidings.min'] === 'number' ? field['tidings.min'] : undefined;
  const minLength = typeof field['tidings.minLength'] === 'number' ? field['tidings.minLength'] : undefined;
  if (format === undefined && min === undefined && minLength === undefined) return undefined;
  return { min, minLength, format };
}

/**
 * Checks a non-null value that already passed the Avro type check against the field's
 * rules. Returns why it fails, or undefined; messages are only built on failure.
 */
export function ruleProblem(rules: FieldRules, value: unknown): string | undefined {
  const { min, minLength, format } = rules;
  if (typeof value === 'number' && min !== undefined && value < min) {
    return `must be >= ${min} (got ${value})`;
  }
  if (typeof value !== 'string') return undefined;
  if (minLength !== undefined && value.length < minLength) {
    return minLength === 1 ? 'must not be empty' : `must be at least ${minLength} characters (got ${value.length})`;
  }
  if (format && !format.test(value)) return `must be ${format.expected} (got ${shown(value, format)})`;
  return undefined;
}
