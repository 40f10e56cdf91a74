/**
 * Locale-aware formatting of money and instants for every notification channel. Intl
 * supplies currency precision and calendars, so there is no hand-kept currency table.
 */

const numberFormats = new Map<string, { format: Intl.NumberFormat; digits: number }>();
const dateFormats = new Map<string, Intl.DateTimeFormat>();

// Intl constructors are costly and notifications format thousands of values per second.
// So are resolvedOptions() calls: the currency's digits are kept beside its format.
function currencyFormat(locale: string, currency: string): { format: Intl.NumberFormat; digits: number } {
  const key = `${locale}\u0000${currency}`;
  let cached = numberFormats.get(key);
  if (!cached) {
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency });
    cached = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
    numberFormats.set(key, cached);
  }
  return cached;
}

/** Minor-unit exponent of an ISO-4217 currency as Intl knows it: USD 2, JPY 0, BHD 3. */
export function currencyFractionDigits(currency: string): number {
  return currencyFormat('en-US', currency).digits;
}

/**
 * `amountMinor` integer minor units as a localized currency string. Dividing by a power of
 * ten is exact to the currency's precision for every safe-integer amount, and Intl then
 * rounds to exactly that precision.
 */
export function formatMinorUnits(amountMinor: number, currency: string, locale: string): string {
  const { format, digits } = currencyFormat(locale, currency);
  return format.format(amountMinor / 10 ** digits);
}

export type DateStyle = 'date' | 'datetime';

/** An epoch-millisecond instant in the recipient's locale and time zone, with the zone named. */
export function formatInstant(epochMs: number, locale: string, timeZone: string, style: DateStyle = 'datetime'): string {
  const key = `${locale}\u0000${timeZone}\u0000${style}`;
  let format = dateFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(
      locale,
      style === 'date'
        ? { timeZone, year: 'numeric', month: 'long', day: 'numeric' }
        : { timeZone, year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' },
    );
    dateFormats.set(key, format);
  }
  return format.format(epochMs);
}
