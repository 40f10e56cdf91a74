import { FORMATS } from '../../src/events/rules';
import { seededRng, type Rng } from '../../src/events/samples';

/**
 * The `url` format skips the WHATWG parser for URLs of a shape it surely accepts. This is the
 * definition it must agree with on every input: the parser's answer.
 */
function referenceIsHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

function randomString(rng: Rng, alphabet: readonly string[], maxLength: number): string {
  let out = '';
  const length = Math.floor(rng() * (maxLength + 1));
  for (let i = 0; i < length; i++) out += pick(rng, alphabet);
  return out;
}

/** Each valid example, with every position replaced, deleted or doubled, plus random splices. */
function mutations(examples: readonly string[], alphabet: readonly string[], rng: Rng): string[] {
  const out: string[] = [...examples];
  for (const example of examples) {
    for (let i = 0; i <= example.length; i++) {
      for (const char of alphabet) out.push(example.slice(0, i) + char + example.slice(i + 1));
      out.push(example.slice(0, i) + example.slice(i + 1));
      out.push(example.slice(0, i) + example.slice(i, i + 1).repeat(2) + example.slice(i + 1));
      out.push(example.slice(0, i) + pick(rng, alphabet) + example.slice(i));
    }
  }
  return out;
}

function expectAgreement(candidates: Iterable<string>): void {
  const url = FORMATS.url as { test(value: string): boolean };
  const disagreements: string[] = [];
  let accepted = 0;
  for (const candidate of candidates) {
    const expected = referenceIsHttpUrl(candidate);
    if (expected) accepted++;
    if (url.test(candidate) !== expected && disagreements.length < 10) disagreements.push(JSON.stringify(candidate));
  }
  expect(disagreements).toEqual([]);
  // The candidates exercise both answers, or the comparison proves little.
  expect(accepted).toBeGreaterThan(1_000);
}

describe('the url format', () => {
  it('agrees with the WHATWG parser (the plain-host fast path never accepts what it refuses)', () => {
    const rng = seededRng(5);
    const examples = [
      'https://app.tidings.example/reset-password?token=abc',
      'http://example.com',
      'https://example.com:8443/x',
      'https://xn--bcher-kva.example/',
      'https://a.b.c.d.e/?q#f',
      'https://user:pw@example.com/',
      'https://127.0.0.1/',
      'https://[::1]/',
      'https://example.123/',
      'https://example.0x1f/',
      'HTTPS://EXAMPLE.COM/',
      'ftp://example.com/',
      'https://exa mple.com/',
      'https://example.com\\path',
      'javascript:alert(1)',
    ];
    const hostish = [...'abcxyzXN09-.:_@/?#%[] \\\t', 'é', 'xn--', 'XN--', '0x', '65535', '99999'];
    const structured = Array.from({ length: 50_000 }, () => {
      const scheme = pick(rng, ['https://', 'http://', 'https:/', 'http:', 'https://']);
      return `${scheme}${randomString(rng, hostish, 14)}${pick(rng, ['', '/', '/p a t h', '?q=1', '#frag', ':', ':80', ':123456'])}`;
    });
    expectAgreement([...mutations(examples, [...'a0-.:/?#@%[] \\', 'é', '\u0000', '\n'], rng), ...structured]);
  });

  it('gives the same answer for a non-ASCII host after thousands of checks (Node 20 URL.canParse does not)', () => {
    const url = FORMATS.url as { test(value: string): boolean };
    const idn = 'https://café.example/receipt';
    expect(url.test(idn)).toBe(true);
    for (let i = 0; i < 20_000; i++) url.test(`https://[::${i % 9}]/receipt`);
    expect(url.test(idn)).toBe(true);
  });
});
