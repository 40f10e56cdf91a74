/**
 * Emails that no single event produces (renewal reminders, daily digests), rendered from
 * `templates/<name>/{subject,html,text}.hbs` next to the event templates, with the same
 * partials and the same `money` / `date` / `phrase` helpers.
 *
 * Why not render.ts: its renderer is keyed by event type and fills Avro defaults from the
 * event's schema; these contexts are not events. Exporting a generic
 * `renderTemplate(name, context, options)` from render.ts would let this file shrink to
 * the two context builders.
 */
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { TemplateRenderError } from '../errors';
import { DEFAULT_TEMPLATES_DIR, type RenderedEmail } from '../notifications/email/render';
import { formatInstant, formatMinorUnits } from '../notifications/format';
import { phrase } from '../notifications/phrases';

export type ScheduledTemplate = 'renewal-reminder' | 'daily-digest';

/** What every scheduled template can rely on at its root (the shared partials read these). */
export interface ScheduledEmailRoot {
  /** The delivery's deterministic id, shown as the email's reference. */
  event_id: string;
  recipient: { email: string; name: string | null };
}

export interface Audience {
  locale: string;
  timeZone: string;
}

type Part = 'subject' | 'html' | 'text';
type Compiled = Record<Part, HandlebarsTemplateDelegate>;

/** The per-render locale and zone travel in Handlebars' `@data`, as in the event templates. */
function audienceOf(options: Handlebars.HelperOptions): Audience {
  const data = options.data as Partial<Audience> | undefined;
  if (typeof data?.locale !== 'string' || typeof data.timeZone !== 'string') throw new Error('helper used without locale/time zone');
  return { locale: data.locale, timeZone: data.timeZone };
}

function createEnvironment(dir: string): typeof Handlebars {
  const env = Handlebars.create();
  // Helpers take the trailing Handlebars options object, like every Handlebars helper.
  env.registerHelper('money', function money(this: unknown, ...args: unknown[]) {
    const options = args.pop() as Handlebars.HelperOptions;
    const [first, second] = args;
    const money = typeof first === 'object' && first !== null ? (first as { amount_minor?: unknown; currency?: unknown }) : { amount_minor: first, currency: second };
    if (typeof money.amount_minor !== 'number' || typeof money.currency !== 'string') throw new Error(`money: no amount in ${JSON.stringify(args)}`);
    return formatMinorUnits(money.amount_minor, money.currency, audienceOf(options).locale);
  });
  env.registerHelper('date', function date(this: unknown, ...args: unknown[]) {
    const options = args.pop() as Handlebars.HelperOptions;
    const [instant, style = 'datetime'] = args;
    if (typeof instant !== 'number' || (style !== 'date' && style !== 'datetime')) throw new Error(`date: bad arguments ${JSON.stringify(args)}`);
    const { locale, timeZone } = audienceOf(options);
    return formatInstant(instant, locale, timeZone, style);
  });
  env.registerHelper('phrase', (group: unknown, symbol: unknown) => phrase(String(group), String(symbol)));
  const partials = path.join(dir, 'partials');
  for (const file of fs.readdirSync(partials).filter((f) => f.endsWith('.hbs'))) {
    const name = path.basename(file, '.hbs');
    env.registerPartial(name, env.compile(fs.readFileSync(path.join(partials, file), 'utf8'), { strict: true, noEscape: !name.startsWith('html-') }));
  }
  return env;
}

/** Renders one scheduled email; throws TemplateRenderError (permanent) when it cannot. */
export class ScheduledEmailRenderer {
  private env: typeof Handlebars | undefined;
  private readonly compiled = new Map<ScheduledTemplate, Compiled>();

  constructor(private readonly templatesDir = DEFAULT_TEMPLATES_DIR) {}

  render<C extends ScheduledEmailRoot>(template: ScheduledTemplate, context: C, audience: Audience): RenderedEmail {
    const parts = this.templates(template);
    const run = (part: Part): string => {
      try {
        return parts[part](context, { data: { locale: audience.locale, timeZone: audience.timeZone } });
      } catch (error) {
        throw new TemplateRenderError(`${template}/${part}`, error);
      }
    };
    return {
      subject: run('subject').replace(/\s+/g, ' ').trim(),
      html: run('html'),
      text: `${run('text').replace(/\n{3,}/g, '\n\n').trim()}\n`,
    };
  }

  private templates(template: ScheduledTemplate): Compiled {
    let entry = this.compiled.get(template);
    if (entry) return entry;
    try {
      this.env ??= createEnvironment(this.templatesDir);
      const env = this.env;
      // strict: a misspelt field is an error, never a silently blank sentence in an email.
      const load = (part: Part): HandlebarsTemplateDelegate =>
        env.compile(fs.readFileSync(path.join(this.templatesDir, template, `${part}.hbs`), 'utf8'), { strict: true, noEscape: part !== 'html' });
      entry = { subject: load('subject'), html: load('html'), text: load('text') };
    } catch (error) {
      throw new TemplateRenderError(template, error);
    }
    this.compiled.set(template, entry);
    return entry;
  }
}
