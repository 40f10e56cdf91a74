/**
 * The MIME message of one notification email, built in one pass into one buffer.
 *
 * nodemailer's composer builds a tree of streams per message and spends about 0.5 ms of CPU
 * on a 4 KB email (measured: `docs/performance.md`, "Email path"), more than the SMTP
 * conversation itself. Notification emails all have one shape (a sender, one recipient, a
 * subject, a text part and usually an HTML part, a few ASCII headers), so this builds that
 * shape directly: headers, a `multipart/alternative` body, both parts quoted-printable UTF-8.
 * Anything outside that shape (an address that is not plain ASCII, a header that is not a
 * token) returns `undefined` and the caller lets nodemailer compose the message instead.
 */
import { randomBytes } from 'node:crypto';

export interface MimeEmail {
  /** Header sender: `Name <address>` or a bare address. */
  from: string;
  /** One recipient address. */
  to: string;
  subject: string;
  text: string;
  /** The HTML alternative; absent or empty for a text-only email. */
  html?: string;
  /** With its angle brackets: `<id@domain>`. */
  messageId: string;
  /** Default: now. */
  date?: Date;
  /** Extra headers: names are header tokens, values one line of text. */
  headers?: Readonly<Record<string, string>>;
}

export interface Mailbox {
  name?: string;
  address: string;
}

/** Local part of dot-atoms and an ASCII domain: the addresses this builder writes as they are. */
const PLAIN_ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** A display name written bare: atoms separated by single spaces. */
const ATOM_PHRASE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** Bytes of UTF-8 per encoded-word: 45 bytes are 60 base64 characters, a 72-character word with `=?UTF-8?B?…?=`. */
const WORD_BYTES = 45;
const BOUNDARY_PREFIX = randomBytes(8).toString('hex');
let boundaries = 0;
/** Characters of a folded header line before its line break (RFC 5322 recommends 78). */
const LINE = 76;

/** `Name <a@b>` or `a@b` as a mailbox, or `undefined` when it is not a plain ASCII address. */
export function parseMailbox(value: string): Mailbox | undefined {
  const trimmed = value.trim();
  const angle = /^(.*?)\s*<([^<>]*)>$/s.exec(trimmed);
  const address = (angle ? angle[2] : trimmed)?.trim() ?? '';
  if (!PLAIN_ADDRESS.test(address)) return undefined;
  let name = angle?.[1]?.trim();
  if (name?.startsWith('"') && name.endsWith('"') && name.length >= 2) name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  return name ? { name, address } : { address };
}

/**
 * The whole message, CRLF line endings, ready for SMTP DATA (dot-stuffing is the transport's),
 * or `undefined` when it needs a general composer.
 */
export function buildMime(email: MimeEmail): Buffer | undefined {
  const from = parseMailbox(email.from);
  const to = parseMailbox(email.to);
  if (!from || !to || to.name !== undefined) return undefined;
  if (!/^<[\x21-\x3b\x3d\x3f-\x7e]+>$/.test(email.messageId)) return undefined;
  const extra = Object.entries(email.headers ?? {});
  if (extra.some(([name]) => !HEADER_NAME.test(name))) return undefined;

  const lines = [
    `From: ${mailboxHeader(from)}`,
    `To: ${to.address}`,
    headerLine('Subject', email.subject),
    `Date: ${rfc5322Date(email.date ?? new Date())}`,
    `Message-ID: ${email.messageId}`,
    'MIME-Version: 1.0',
    ...extra.map(([name, value]) => headerLine(name, value)),
  ];
  const text = quotedPrintable(email.text);
  if (!email.html) {
    lines.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', text);
    return Buffer.from(lines.join('\r\n'), 'latin1');
  }
  // Quoted-printable output never holds "=_" (a literal "=" is always "=3D"), so no part can
  // contain this boundary; the process's random prefix and a counter keep it unique per message.
  const boundary = `=_tidings_${BOUNDARY_PREFIX}_${(boundaries++).toString(36)}`;
  lines.push(
    `Content-Type: multipart/alternative;\r\n boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    text,
    `--${boundary}`,
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    quotedPrintable(email.html),
    `--${boundary}--`,
    '',
  );
  // Every character above is ASCII by construction: latin1 is the cheapest exact encoding.
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function mailboxHeader({ name, address }: Mailbox): string {
  if (name === undefined) return address;
  if (ATOM_PHRASE.test(name)) return `${name} <${address}>`;
  if (PRINTABLE_ASCII.test(name) && !name.includes('=?')) return `"${name.replace(/(["\\])/g, '\\$1')}" <${address}>`;
  return `${encodedWords(name).join(' ')} <${address}>`;
}

/**
 * `Name: value`, one line of unstructured text: line breaks in the value become spaces (no
 * header can be injected), ASCII stays readable and is folded at spaces, anything else is
 * written as UTF-8 encoded-words.
 */
function headerLine(name: string, raw: string): string {
  const value = raw.replace(/[\r\n]+/g, ' ');
  if (PRINTABLE_ASCII.test(value) && !value.includes('=?')) return fold(`${name}: ${value}`);
  // The first word shares its line with the name; a name too long to leave room starts the words on the next line.
  const firstBytes = Math.floor((LINE - name.length - 2 - 12) / 4) * 3;
  if (firstBytes < 12) return `${name}:\r\n ${encodedWords(value, WORD_BYTES).join('\r\n ')}`;
  return `${name}: ${encodedWords(value, firstBytes).join('\r\n ')}`;
}

/** Folds an ASCII header line at spaces so that lines stay near 76 characters where the words allow. */
function fold(line: string): string {
  if (line.length <= LINE) return line;
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current && current.length + 1 + word.length > LINE) {
      out.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  out.push(current);
  // A folded line starts with the space that separated the words.
  return out.join('\r\n ');
}

/** RFC 2047 `=?UTF-8?B?…?=` words, the first of at most `firstBytes` bytes, the others WORD_BYTES, never splitting a character. */
function encodedWords(value: string, firstBytes = WORD_BYTES): string[] {
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const char of value) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > (words.length === 0 ? firstBytes : WORD_BYTES)) {
      words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
      chunk = '';
      bytes = 0;
    }
    chunk += char;
    bytes += size;
  }
  if (chunk || words.length === 0) words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
  return words;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Thu, 03 Dec 2026 23:20:01 +0000`. */
export function rfc5322Date(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]}, ${two(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

const HEX = '0123456789ABCDEF';
const CR = 0x0d;
const LF = 0x0a;

/**
 * Quoted-printable (RFC 2045 §6.7) of the UTF-8 bytes of `text`: line breaks of any kind become
 * CRLF, "=", control and non-ASCII bytes become `=XX`, a space or tab before a line break is
 * encoded, and lines are wrapped with soft breaks so none exceeds 76 characters.
 */
export function quotedPrintable(text: string): string {
  const input = Buffer.from(text, 'utf8');
  // Worst case: every byte escaped (3×) plus a soft break ("=\r\n") every 25 bytes.
  const out = Buffer.allocUnsafe(input.length * 3 + Math.ceil(input.length / 25) * 3 + 3);
  let at = 0;
  let column = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    if (byte === CR || byte === LF) {
      if (byte === CR && input[i + 1] === LF) i++;
      out[at++] = CR;
      out[at++] = LF;
      column = 0;
      continue;
    }
    const next = input[i + 1];
    const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && next !== undefined && next !== CR && next !== LF);
    const width = literal ? 1 : 3;
    if (column + width > LINE - 1) {
      out[at++] = 61; // "=" soft line break
      out[at++] = CR;
      out[at++] = LF;
      column = 0;
    }
    if (literal) out[at++] = byte;
    else {
      out[at++] = 61;
      out[at++] = HEX.charCodeAt(byte >> 4);
      out[at++] = HEX.charCodeAt(byte & 15);
    }
    column += width;
  }
  return out.toString('latin1', 0, at);
}
