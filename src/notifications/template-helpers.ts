/**
 * The Handlebars helpers every notification template can use (email and short messages):
 * `money`, `date`, `phrase`, `times`, `eq`. Amounts and dates follow the locale and time zone
 * passed per render in Handlebars' `@data`, so one compiled template serves every recipient.
 */
import type Handlebars from 'handlebars';
import { formatInstant, formatMinorUnits, type DateStyle } from './format';
import { phrase } from './phrases';

/** Words for `symbol` of enum `group`; throws for anything unknown so a template bug is loud. */
export type PhraseLookup = (group: string, symbol: string) => string;

/** Per-render values the helpers read through Handlebars' `@data`. */
export interface RenderData {
  /** BCP 47 locale of amounts and dates (the recipient's, whichever template locale is used). */
  locale: string;
  /** IANA time zone of dates. */
  timeZone: string;
}

function renderData(options: Handlebars.HelperOptions): RenderData {
  const data: unknown = options.data;
  const candidate = data as Partial<RenderData> | undefined;
  if (typeof candidate?.locale !== 'string' || typeof candidate.timeZone !== 'string') {
    throw new Error('helper used without a locale/time zone in @data');
  }
  return { locale: candidate.locale, timeZone: candidate.timeZone };
}

/** Splits Handlebars' trailing options argument from the helper's own arguments. */
function helperArgs(args: unknown[]): { params: unknown[]; options: Handlebars.HelperOptions } {
  const options = args[args.length - 1] as Handlebars.HelperOptions;
  return { params: args.slice(0, -1), options };
}

/** Registers the helpers on `env`; `words` names enum symbols (default: the English phrase book). */
export function registerHelpers(env: typeof Handlebars, words: PhraseLookup = phrase): void {
  // {{money amount}} for a Money record, or {{money minor_units currency}}.
  env.registerHelper('money', (...args: unknown[]) => {
    const { params, options } = helperArgs(args);
    const { locale } = renderData(options);
    const [first, second] = params;
    if (typeof first === 'object' && first !== null) {
      const { amount_minor, currency } = first as { amount_minor?: unknown; currency?: unknown };
      if (typeof amount_minor === 'number' && typeof currency === 'string') {
        return formatMinorUnits(amount_minor, currency, locale);
      }
    } else if (typeof first === 'number' && typeof second === 'string') {
      return formatMinorUnits(first, second, locale);
    }
    throw new Error(`money: expected a Money record or (minor units, currency), got ${JSON.stringify(params)}`);
  });
  // {{date occurred_at}} or {{date due_at "date"}}.
  env.registerHelper('date', (...args: unknown[]) => {
    const { params, options } = helperArgs(args);
    const [value, style = 'datetime'] = params;
    if (typeof value !== 'number' || (style !== 'date' && style !== 'datetime')) {
      throw new Error(`date: expected (epoch millis, "date"|"datetime"), got ${JSON.stringify(params)}`);
    }
    const { locale, timeZone } = renderData(options);
    return formatInstant(value, locale, timeZone, style as DateStyle);
  });
  env.registerHelper('phrase', (group: unknown, symbol: unknown) => words(String(group), String(symbol)));
  env.registerHelper('times', (a: unknown, b: unknown) => Number(a) * Number(b));
  env.registerHelper('eq', (a: unknown, b: unknown) => a === b);
}
