/**
 * Renders an event into an email (subject, HTML and plain text) from Handlebars templates
 * in `templates/<event-type-kebab>/{subject,html,text}.hbs`, with shared partials in
 * `templates/partials/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { TemplateRenderError } from '../../errors';
import { getEventDefinition } from '../../events/catalog';
import type { EventMap, EventType } from '../../events/generated';
import { formatInstant, formatMinorUnits, type DateStyle } from '../format';
import { phrase } from '../phrases';

export const DEFAULT_TEMPLATES_DIR = path.resolve(__dirname, 'templates');

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export interface RenderOptions {
  /** BCP 47 locale for amounts and dates. Default: the recipient's locale. */
  locale?: string;
  /** IANA time zone for dates. Default: the recipient's time zone. */
  timeZone?: string;
}

export interface EmailRenderer {
  render<T extends EventType>(type: T, event: EventMap[T], options?: RenderOptions): RenderedEmail;
}

export interface EmailRendererOptions {
  /** Directory holding one folder per event type plus `partials/`. Default: the bundled templates. */
  templatesDir?: string;
}

const PARTS = ['subject', 'html', 'text'] as const;
type Part = (typeof PARTS)[number];

/** Per-render values the helpers read through Handlebars' `@data`. */
interface RenderData {
  locale: string;
  timeZone: string;
}

type Compiled = Record<Part, HandlebarsTemplateDelegate>;

/** `PAYMENT_SUCCEEDED` → `payment-succeeded`, the template folder name. */
export function templateNameOf(type: EventType): string {
  return type.toLowerCase().replace(/_/g, '-');
}

function compileOptions(escape: boolean): CompileOptions {
  // strict: a misspelt or missing variable is an error, never a silently blank email.
  return { strict: true, noEscape: !escape };
}

function renderData(options: Handlebars.HelperOptions): RenderData {
  const data: unknown = options.data;
  const candidate = data as Partial<RenderData> | undefined;
  if (typeof candidate?.locale !== 'string' || typeof candidate.timeZone !== 'string') {
    throw new Error('helper used outside renderEmail (no locale/time zone in @data)');
  }
  return { locale: candidate.locale, timeZone: candidate.timeZone };
}

/** Splits Handlebars' trailing options argument from the helper's own arguments. */
function helperArgs(args: unknown[]): { params: unknown[]; options: Handlebars.HelperOptions } {
  const options = args[args.length - 1] as Handlebars.HelperOptions;
  return { params: args.slice(0, -1), options };
}

export function registerHelpers(env: typeof Handlebars): void {
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
  env.registerHelper('phrase', (group: unknown, symbol: unknown) => phrase(String(group), String(symbol)));
  env.registerHelper('times', (a: unknown, b: unknown) => Number(a) * Number(b));
  env.registerHelper('eq', (a: unknown, b: unknown) => a === b);
}

function readTemplate(file: string, name: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new TemplateRenderError(name, error);
  }
}

/**
 * A renderer over one templates directory. Templates are compiled on first use and cached;
 * partials named `html-*.hbs` are HTML-escaped, all others (plain text) are not.
 */
export function createEmailRenderer(options: EmailRendererOptions = {}): EmailRenderer {
  const dir = options.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const env = Handlebars.create();
  registerHelpers(env);
  const partialsDir = path.join(dir, 'partials');
  if (fs.existsSync(partialsDir)) {
    for (const file of fs.readdirSync(partialsDir).filter((name) => name.endsWith('.hbs'))) {
      const name = file.slice(0, -'.hbs'.length);
      const source = readTemplate(path.join(partialsDir, file), `partials/${name}`);
      env.registerPartial(name, env.compile(source, compileOptions(name.startsWith('html-'))));
    }
  }

  const cache = new Map<EventType, Compiled>();
  function compiled(type: EventType): Compiled {
    let entry = cache.get(type);
    if (!entry) {
      const folder = templateNameOf(type);
      const load = (part: Part): HandlebarsTemplateDelegate =>
        env.compile(readTemplate(path.join(dir, folder, `${part}.hbs`), `${folder}/${part}`), compileOptions(part === 'html'));
      entry = { subject: load('subject'), html: load('html'), text: load('text') };
      cache.set(type, entry);
    }
    return entry;
  }

  return {
    render<T extends EventType>(type: T, event: EventMap[T], renderOptions: RenderOptions = {}): RenderedEmail {
      const templates = compiled(type);
      const folder = templateNameOf(type);
      let context: EventMap[T];
      try {
        // Fill schema defaults so strict templates can test optional fields that producers omitted.
        context = getEventDefinition(type).avroType.clone(event) as EventMap[T];
      } catch (error) {
        throw new TemplateRenderError(folder, error);
      }
      const data: RenderData = {
        locale: renderOptions.locale ?? context.recipient.locale ?? 'en-US',
        timeZone: renderOptions.timeZone ?? context.recipient.time_zone ?? 'UTC',
      };
      const run = (part: Part): string => {
        try {
          return templates[part](context, { data });
        } catch (error) {
          throw new TemplateRenderError(`${folder}/${part}`, error);
        }
      };
      return {
        // Subjects are single header lines; template line breaks are layout only.
        subject: run('subject').replace(/\s+/g, ' ').trim(),
        html: run('html'),
        text: `${run('text').replace(/\n{3,}/g, '\n\n').trim()}\n`,
      };
    },
  };
}

let defaultRenderer: EmailRenderer | undefined;

/** Renders `event` with the bundled templates; throws TemplateRenderError when it cannot. */
export function renderEmail<T extends EventType>(type: T, event: EventMap[T], options?: RenderOptions): RenderedEmail {
  defaultRenderer ??= createEmailRenderer();
  return defaultRenderer.render(type, event, options);
}
