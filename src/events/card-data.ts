/**
 * Card data (PCI DSS) wherever Tidings looks for it: an event the SDK is about to send, a
 * record a consumer decoded, text written to logs, DLQ headers and error columns. One
 * detector for all of them, so what the SDK refuses and what the logs mask never drift apart.
 *
 * Two kinds of finding: a card number inside any string (see findCardNumbers), and a field
 * named like a card's security code, a password, a secret or a full token (see
 * isSecretFieldName), whatever its value.
 */
import { CardDataError } from '../errors';
import { MASK } from './personal-data';

/**
 * A payment card number: 13 to 19 digits that pass the Luhn check and start like a card
 * (2 to 6: Mastercard, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay). The leading
 * digit keeps epoch-millisecond timestamps (13 digits starting with 1) and most ids out.
 */
export function isCardNumber(digits: string): boolean {
  return /^\d+$/.test(digits) && isCardNumberIn(digits, 0, digits.length, digits.length);
}

export interface CardNumberMatch {
  /** Where the number is in the text, separators included: text.slice(start, end). */
  start: number;
  end: number;
  /** Its digits alone. */
  digits: string;
}

const isDigit = (code: number): boolean => code >= 48 && code <= 57;
/** `\w`, a dash or (before a number) a plus: a number glued to one of these is an identifier or a phone number. */
const gluesAfter = (code: number): boolean => code === 95 || code === 45 || isDigit(code) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
const gluesBefore = (code: number): boolean => gluesAfter(code) || code === 43;

/** isCardNumber over the `count` digits of text[start, end), separators skipped. */
function isCardNumberIn(text: string, start: number, end: number, count: number): boolean {
  if (count < 13 || count > 19) return false;
  let sum = 0;
  let position = 0;
  let first = 0;
  for (let i = end - 1; i >= start; i--) {
    const code = text.charCodeAt(i);
    if (!isDigit(code)) continue;
    let d = code - 48;
    first = d;
    if (position++ % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return first >= 2 && first <= 6 && sum % 10 === 0;
}

/** A group of digits joined by dashes (`4111-1111`, a date, a UUID-like id): never split. */
interface Piece {
  start: number;
  end: number;
  digits: number;
}

/**
 * The card numbers written in `text`: 13 to 19 digits passing isCardNumber, in one run or in
 * groups separated by single spaces or dashes (`4111 1111 1111 1111`, `4111-1111-1111-1111`).
 *
 * A run of digit groups is split only at spaces, so a card number followed by its CVV or an
 * amount (`4111 1111 1111 1111 123`) is still found, while a dash-joined identifier (a UUID,
 * a reference) is taken whole and is too long to be a card. A number glued to letters, `_`,
 * a dash (`ORD-4111…`) or a `+` (a phone number) is an identifier, not a card.
 */
export function findCardNumbers(text: string): CardNumberMatch[] {
  const matches: CardNumberMatch[] = [];
  scan(text, (start, end) => {
    matches.push({ start, end, digits: text.slice(start, end).replace(/\D/g, '') });
    return true;
  });
  return matches;
}

/** Thirteen digits with at most one separator between each two: the regular expression engine rules out most text faster than a scan. */
const MAYBE_CARD = /\d(?:[ -]?\d){12}/;
const stopAtFirst = (): boolean => false;

/** Whether `text` holds a card number (findCardNumbers without building the matches: the publish path asks this of every string). */
export function hasCardNumber(text: string): boolean {
  return text.length >= 13 && MAYBE_CARD.test(text) && scan(text, stopAtFirst);
}

/**
 * Calls `found` with each card number's range, left to right; stops when it returns false.
 * Returns whether any was found. Allocates nothing for a run without spaces (ids, amounts,
 * timestamps: nearly every digit run an event holds).
 */
function scan(text: string, found: (start: number, end: number) => boolean): boolean {
  const n = text.length;
  let any = false;
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    // One run: digit groups joined by single spaces or dashes.
    const start = i;
    let j = i;
    let count = 0;
    let spaced = false;
    for (;;) {
      while (j < n && isDigit(text.charCodeAt(j))) {
        j++;
        count++;
      }
      const separator = text.charCodeAt(j);
      if ((separator === 32 || separator === 45) && j + 1 < n && isDigit(text.charCodeAt(j + 1))) {
        if (separator === 32) spaced = true;
        j++;
        continue;
      }
      break;
    }
    i = j;
    if (count < 13) continue;
    const openStart = start === 0 || !gluesBefore(text.charCodeAt(start - 1));
    const openEnd = j === n || !gluesAfter(text.charCodeAt(j));
    if (!spaced) {
      if (openStart && openEnd && isCardNumberIn(text, start, j, count)) {
        any = true;
        if (!found(start, j)) return true;
      }
      continue;
    }
    for (const [from, to] of cardWindows(text, piecesOf(text, start, j), openStart, openEnd)) {
      any = true;
      if (!found(from, to)) return true;
    }
  }
  return any;
}

/** The run text[start, end) split at its spaces. */
function piecesOf(text: string, start: number, end: number): Piece[] {
  const pieces: Piece[] = [];
  let piece: Piece = { start, end: start, digits: 0 };
  for (let k = start; k < end; k++) {
    const code = text.charCodeAt(k);
    if (code === 32) {
      piece.end = k;
      pieces.push(piece);
      piece = { start: k + 1, end: k + 1, digits: 0 };
    } else if (isDigit(code)) piece.digits++;
  }
  piece.end = end;
  pieces.push(piece);
  return pieces;
}

/** The longest windows of whole pieces, left to right and not overlapping, that are card numbers. */
function cardWindows(text: string, pieces: Piece[], openStart: boolean, openEnd: boolean): Array<[number, number]> {
  const windows: Array<[number, number]> = [];
  const last = pieces.length - 1;
  let a = 0;
  while (a <= last) {
    let found = -1;
    if (a > 0 || openStart) {
      // Candidate ends, longest first; a window is at most 19 digits, so few are tried.
      let total = 0;
      let end = a;
      while (end <= last && total + pieces[end]!.digits <= 19) total += pieces[end++]!.digits;
      for (let b = end - 1; b >= a && total >= 13; b--) {
        if ((b < last || openEnd) && isCardNumberIn(text, pieces[a]!.start, pieces[b]!.end, total)) {
          found = b;
          break;
        }
        total -= pieces[b]!.digits;
      }
    }
    if (found < 0) {
      a++;
      continue;
    }
    windows.push([pieces[a]!.start, pieces[found]!.end]);
    a = found + 1;
  }
  return windows;
}

/** `text` with each card number replaced by what `replacement` returns for it. */
export function replaceCardNumbers(text: string, replacement: (match: CardNumberMatch, written: string) => string): string {
  const matches = findCardNumbers(text);
  if (matches.length === 0) return text;
  let out = '';
  let at = 0;
  for (const m of matches) {
    out += text.slice(at, m.start) + replacement(m, text.slice(m.start, m.end));
    at = m.end;
  }
  return out + text.slice(at);
}

/** A card number as written with every digit but the last four replaced by `*`, separators kept (`**** **** **** 1111`). */
export function maskCardNumber(written: string): string {
  let digitsLeft = written.replace(/\D/g, '').length;
  let out = '';
  for (const char of written) {
    if (char >= '0' && char <= '9') out += digitsLeft-- > 4 ? '*' : char;
    else out += char;
  }
  return out;
}

/** `text` with every card number masked by maskCardNumber. */
export function maskCardNumbersIn(text: string): string {
  return replaceCardNumbers(text, (_match, written) => maskCardNumber(written));
}

/** Words that name a card's secrets or a credential, alone (`cvv`) or together (`security code`). */
const SECRET_WORDS: ReadonlySet<string> = new Set(['cvv', 'cvv2', 'cvc', 'cvc2', 'cav2', 'cvn', 'csc', 'pan', 'cardnumber', 'securitycode', 'password', 'passwd', 'passphrase', 'secret', 'token']);
const SECRET_PHRASES: ReadonlyArray<readonly [string, string]> = [
  ['security', 'code'],
  ['card', 'number'],
  ['card', 'verification'],
];
/**
 * Words that make a name describe a secret rather than hold it: `card_last4`, `token_id`,
 * `password_changed_at`, `token_expires_at`, `secret_hint`, `reset_url`.
 */
const DESCRIBING_WORDS: ReadonlySet<string> = new Set([
  'last4',
  'last',
  'first6',
  'bin',
  'suffix',
  'prefix',
  'hint',
  'masked',
  'id',
  'ids',
  'ref',
  'type',
  'kind',
  'brand',
  'count',
  'remaining',
  'length',
  'expires',
  'expiry',
  'expired',
  'at',
  'url',
  'status',
  'changed',
  'updated',
  'enabled',
  'required',
]);

const nameVerdicts = new Map<string, boolean>();

/** The words of a field name: snake_case, kebab-case, camelCase and PascalCase alike (`cardCVV2` → card, cvv2). */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * Whether a field of this name holds a card's security code, a card number, a password, a
 * secret or a full token (`cvv`, `card_cvc`, `securityCode`, `password`, `client_secret`,
 * `card_token`), as opposed to describing one (`card_last4`, `token_id`, `password_changed_at`).
 */
export function isSecretFieldName(name: string): boolean {
  let verdict = nameVerdicts.get(name);
  if (verdict === undefined) {
    const words = wordsOf(name);
    const names = words.some((w) => SECRET_WORDS.has(w)) || SECRET_PHRASES.some(([x, y]) => words.some((w, i) => w === x && words[i + 1] === y));
    verdict = names && !words.some((w) => DESCRIBING_WORDS.has(w));
    // Field names come from code, not data: a bounded set, but a hostile payload could make up many.
    if (nameVerdicts.size < 10_000) nameVerdicts.set(name, verdict);
  }
  return verdict;
}

export interface CardDataFinding {
  /** Dotted path of the field (`items[0].description`, `cvv`). */
  path: string;
  /** Why, without the value. */
  reason: string;
}

const CARD_NUMBER_REASON = 'holds a card number (13 to 19 digits passing the Luhn check)';
const SECRET_NAME_REASON = 'is named like a card security code, a card number, a password, a secret or a token';
/** Deeper than any event: a guard against a cyclic or hostile object, not a limit events meet. */
const MAX_DEPTH = 32;

/** Every field of `value` (records, arrays and maps, at any depth) that holds card data. */
export function findCardData(value: unknown): CardDataFinding[] {
  const findings: CardDataFinding[] = [];
  walk(value, '', 0, findings);
  return findings;
}

function walk(value: unknown, path: string, depth: number, into: CardDataFinding[]): void {
  if (typeof value === 'string') {
    if (hasCardNumber(value)) into.push({ path: path || '(event)', reason: CARD_NUMBER_REASON });
    return;
  }
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(value[i], `${path}[${i}]`, depth + 1, into);
    return;
  }
  for (const key of Object.keys(value)) {
    const inner = (value as Record<string, unknown>)[key];
    const at = path ? `${path}.${key}` : key;
    if (isSecretValue(key, inner)) into.push({ path: at, reason: SECRET_NAME_REASON });
    else walk(inner, at, depth + 1, into);
  }
}

/** Whether `value` holds card data: findCardData without building paths, for the common answer "no". */
function holds(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return hasCardNumber(value);
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.some((item) => holds(item, depth + 1));
  for (const key of Object.keys(value)) {
    const inner = (value as Record<string, unknown>)[key];
    if (isSecretValue(key, inner) || holds(inner, depth + 1)) return true;
  }
  return false;
}

/** A value in a field named like a secret (isSecretFieldName); an object there is looked into instead, and null, absent or a flag holds nothing. */
function isSecretValue(key: string, value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'boolean' && typeof value !== 'object' && isSecretFieldName(key);
}

/** Throws CardDataError naming every field of the event that holds card data; never its values. */
export function refuseCardData(eventType: string, payload: unknown): void {
  if (holds(payload, 0)) throw new CardDataError(eventType, findCardData(payload));
}

/**
 * A copy of `value` with its card data masked: card numbers in strings keep their last four
 * digits (`**** **** **** 1111`), strings in secret-named fields become `***`. `paths` says
 * where; the shape and the types are kept, so the copy still encodes with the same schema.
 */
export function maskCardData(value: unknown): { masked: unknown; paths: string[] } {
  const paths: string[] = [];
  const mask = (v: unknown, path: string, depth: number): unknown => {
    if (typeof v === 'string') {
      const out = maskCardNumbersIn(v);
      if (out !== v) paths.push(path || '(event)');
      return out;
    }
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v) || depth > MAX_DEPTH) return v;
    if (Array.isArray(v)) return v.map((item, i) => mask(item, `${path}[${i}]`, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(v)) {
      const at = path ? `${path}.${key}` : key;
      if (typeof inner === 'string' && isSecretFieldName(key)) {
        paths.push(at);
        out[key] = MASK;
      } else out[key] = mask(inner, at, depth + 1);
    }
    return out;
  };
  return { masked: mask(value, '', 0), paths };
}
