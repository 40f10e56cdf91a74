/**
 * Renders emails (subject, HTML and plain text) from Handlebars templates, one directory per
 * locale: `templates/<locale>/` holds `manifest.json` (`{"version": "2026.11.1"}`), `partials/`,
 * one folder per template (`<event-type-kebab>/{subject,html,text}.hbs`, or a scheduled
 * email's name) and, for every locale but English, `phrases.json` with its words for enum
 * symbols.
 *
 * The template locale falls back from `fr-CA` to `fr` to `en`, template by template, as for
 * short messages; a template renders with the partials and phrases of its own locale, so a
 * French email never mixes in English parts. Amounts and dates follow the recipient's locale
 * whichever template was used. Each email carries `<template locale>-<manifest version>`,
 * recorded in the delivery ledger.
 */
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { readEnv } from '../../config/env';
import { ConfigError, TemplateRenderError, describe } from '../../errors';
import { getEventDefinition } from '../../events/catalog';
import { EVENT_TYPES, type EventMap, type EventType } from '../../events/generated';
import { PHRASES, phrase } from '../phrases';
import { DEFAULT_LOCALE, localeChain } from '../short-render';
import { registerHelpers, type PhraseLookup, type RenderData } from '../template-helpers';

export const DEFAULT_TEMPLATES_DIR = path.resolve(__dirname, 'templates');

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
  /** Locale of the template used: `en` for an `fr-CA` recipient of an email with no French template. */
  locale: string;
  /** `<template locale>-<manifest version>`, e.g. `fr-2026.11.1`. */
  version: string;
}

export interface RenderOptions {
  /** BCP 47 locale choosing the template and formatting amounts and dates. Default: the recipient's locale. */
  locale?: string;
  /** IANA time zone for dates. Default: the recipient's time zone. */
  timeZone?: string;
}

export interface EmailRenderer {
  render<T extends EventType>(type: T, event: EventMap[T], options?: RenderOptions): RenderedEmail;
  /** Renders the template folder `name` from a context that is not an event (scheduled emails). */
  renderTemplate(name: string, context: object, audience: RenderData): RenderedEmail;
}

export interface EmailRendererOptions {
  /** Directory holding one `<locale>/` folder per template locale. Default: the bundled templates. */
  templatesDir?: string;
}

/** Emails no single event produces, rendered by the scheduler. */
export const SCHEDULED_TEMPLATES = ['renewal-reminder', 'daily-digest'] as const;

const PARTS = ['subject', 'html', 'text'] as const;
type Part = (typeof PARTS)[number];
type Compiled = Record<Part, HandlebarsTemplateDelegate>;

/** The templates of one locale: compiled on first use, `null` for those it does not have. */
interface LocaleTemplates {
  locale: string;
  version: string;
  dir: string;
  env: typeof Handlebars;
  compiled: Map<string, Compiled | null>;
}

// A locale comes from event data and names a directory: nothing but a language tag may.
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

/** `PAYMENT_SUCCEEDED` → `payment-succeeded`, the template folder name. */
export function templateNameOf(type: EventType): string {
  return type.toLowerCase().replace(/_/g, '-');
}

function compileOptions(escape: boolean): CompileOptions {
  // strict: a misspelt or missing variable is an error, never a silently blank email.
  return { strict: true, noEscape: !escape };
}

function readFile(file: string, name: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new TemplateRenderError(name, error);
  }
}

function readJson(file: string, name: string): unknown {
  const source = readFile(file, name);
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw new TemplateRenderError(name, new Error(`${file} is not valid JSON`, { cause: error }));
  }
}

function manifestVersion(dir: string, locale: string): string {
  const file = path.join(dir, 'manifest.json');
  const name = `${locale}/manifest.json`;
  if (!fs.existsSync(file)) throw new TemplateRenderError(name, new Error(`template locale ${locale} has no ${file}`));
  const { version } = (readJson(file, name) ?? {}) as { version?: unknown };
  if (typeof version !== 'string' || version === '') throw new TemplateRenderError(name, new Error(`${file} has no "version" string`));
  return version;
}

/**
 * The locale's words for enum symbols: `phrases.json`, which must name every symbol of the
 * English book (checked here, so a missing one fails every render of the locale, and its
 * tests, rather than slipping English into some emails), plus any its own templates use.
 */
function phrasesOf(dir: string, locale: string): PhraseLookup {
  const file = path.join(dir, 'phrases.json');
  if (!fs.existsSync(file)) {
    if (locale === DEFAULT_LOCALE) return phrase;
    return (group, symbol) => {
      throw new Error(`no ${file} for ${group}.${symbol}`);
    };
  }
  const name = `${locale}/phrases.json`;
  const book = (readJson(file, name) ?? {}) as Partial<Record<string, Partial<Record<string, unknown>>>>;
  const missing = Object.entries(PHRASES).flatMap(([group, words]) =>
    Object.keys(words)
      .filter((symbol) => typeof book[group]?.[symbol] !== 'string')
      .map((symbol) => `${group}.${symbol}`),
  );
  if (missing.length > 0) throw new TemplateRenderError(name, new Error(`${file} has no words for ${missing.join(', ')}`));
  return (group, symbol) => {
    const words = book[group]?.[symbol];
    if (typeof words !== 'string') throw new Error(`no phrase for ${group}.${symbol} in ${file}`);
    return words;
  };
}

function loadLocale(root: string, locale: string): LocaleTemplates | null {
  const dir = path.join(root, locale);
  if (!LANGUAGE_TAG.test(locale) || !fs.existsSync(dir)) return null;
  const version = manifestVersion(dir, locale);
  const env = Handlebars.create();
  registerHelpers(env, phrasesOf(dir, locale));
  // Partials named `html-*.hbs` are HTML-escaped, all others (plain text) are not.
  const partialsDir = path.join(dir, 'partials');
  if (fs.existsSync(partialsDir)) {
    for (const file of fs.readdirSync(partialsDir).filter((f) => f.endsWith('.hbs'))) {
      const name = file.slice(0, -'.hbs'.length);
      env.registerPartial(name, env.compile(readFile(path.join(partialsDir, file), `${locale}/partials/${name}`), compileOptions(name.startsWith('html-'))));
    }
  }
  return { locale, version, dir, env, compiled: new Map() };
}

function templateOf(bundle: LocaleTemplates, name: string): Compiled | null {
  if (!bundle.compiled.has(name)) {
    const folder = path.join(bundle.dir, name);
    const load = (part: Part): HandlebarsTemplateDelegate =>
      bundle.env.compile(readFile(path.join(folder, `${part}.hbs`), `${bundle.locale}/${name}/${part}`), compileOptions(part === 'html'));
    bundle.compiled.set(name, fs.existsSync(folder) ? { subject: load('subject'), html: load('html'), text: load('text') } : null);
  }
  return bundle.compiled.get(name) ?? null;
}

/** A renderer over one templates directory; locales and templates are loaded and compiled on first use, then cached. */
export function createEmailRenderer(options: EmailRendererOptions = {}): EmailRenderer {
  const root = options.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const locales = new Map<string, LocaleTemplates | null>();
  function localeTemplates(locale: string): LocaleTemplates | null {
    if (!locales.has(locale)) locales.set(locale, loadLocale(root, locale));
    return locales.get(locale) ?? null;
  }

  function renderTemplate(name: string, context: object, audience: RenderData): RenderedEmail {
    const chain = localeChain(audience.locale);
    for (const locale of chain) {
      const bundle = localeTemplates(locale);
      const templates = bundle && templateOf(bundle, name);
      if (!bundle || !templates) continue;
      const data: RenderData = { locale: audience.locale, timeZone: audience.timeZone };
      const run = (part: Part): string => {
        try {
          return templates[part](context, { data });
        } catch (error) {
          throw new TemplateRenderError(`${locale}/${name}/${part}`, error);
        }
      };
      return {
        // Subjects are single header lines; template line breaks are layout only.
        subject: run('subject').replace(/\s+/g, ' ').trim(),
        html: run('html'),
        text: `${run('text').replace(/\n{3,}/g, '\n\n').trim()}\n`,
        locale,
        version: `${locale}-${bundle.version}`,
      };
    }
    throw new TemplateRenderError(name, new Error(`no email template "${name}" for ${chain.join(' → ')} in ${root}`));
  }

  return {
    render<T extends EventType>(type: T, event: EventMap[T], renderOptions: RenderOptions = {}): RenderedEmail {
      const name = templateNameOf(type);
      let context: EventMap[T];
      try {
        // Fill schema defaults so strict templates can test optional fields that producers omitted.
        context = getEventDefinition(type).avroType.clone(event) as EventMap[T];
      } catch (error) {
        throw new TemplateRenderError(name, error);
      }
      return renderTemplate(name, context, {
        locale: renderOptions.locale ?? context.recipient.locale ?? 'en-US',
        timeZone: renderOptions.timeZone ?? context.recipient.time_zone ?? 'UTC',
      });
    },
    renderTemplate,
  };
}

let defaultRenderer: EmailRenderer | undefined;

/** The renderer of the bundled templates, shared by everything that does not bring its own. */
export function defaultEmailRenderer(): EmailRenderer {
  defaultRenderer ??= createEmailRenderer();
  return defaultRenderer;
}

/** A renderer over `templatesDir`: the shared one for the bundled templates, so they are compiled once per process. */
export function emailRendererFor(templatesDir: string): EmailRenderer {
  return templatesDir === DEFAULT_TEMPLATES_DIR ? defaultEmailRenderer() : createEmailRenderer({ templatesDir });
}

/** Renders `event` with the bundled templates; throws TemplateRenderError when it cannot. */
export function renderEmail<T extends EventType>(type: T, event: EventMap[T], options?: RenderOptions): RenderedEmail {
  return defaultEmailRenderer().render(type, event, options);
}

/**
 * Checks a templates directory before anything is rendered from it, so a deployment with a
 * broken template set fails at start-up instead of dead-lettering events one by one: the
 * default locale must have every template (it is where every fallback ends), each locale
 * needs its `manifest.json` (and `phrases.json` for enum words), and every `.hbs` file must
 * parse. Throws one ConfigError listing every problem; returns the locales found.
 */
export function checkEmailTemplates(templatesDir: string): string[] {
  if (!fs.existsSync(templatesDir) || !fs.statSync(templatesDir).isDirectory()) {
    throw new ConfigError(`email templates: ${templatesDir} is not a directory`);
  }
  const problems: string[] = [];
  const locales = fs.readdirSync(templatesDir).filter((entry) => LANGUAGE_TAG.test(entry) && fs.statSync(path.join(templatesDir, entry)).isDirectory());
  if (!locales.includes(DEFAULT_LOCALE)) problems.push(`no ${path.join(templatesDir, DEFAULT_LOCALE)} folder (the default locale every other one falls back to)`);
  const required = [...EVENT_TYPES.map(templateNameOf), ...SCHEDULED_TEMPLATES];
  for (const locale of locales) {
    const dir = path.join(templatesDir, locale);
    try {
      loadLocale(templatesDir, locale);
    } catch (error) {
      problems.push(describe(error instanceof TemplateRenderError && error.cause !== undefined ? error.cause : error));
      continue;
    }
    const present = fs.readdirSync(dir).filter((entry) => fs.statSync(path.join(dir, entry)).isDirectory());
    for (const name of present) {
      const parts = name === 'partials' ? fs.readdirSync(path.join(dir, name)).filter((f) => f.endsWith('.hbs')) : PARTS.map((part) => `${part}.hbs`);
      for (const file of parts) {
        const full = path.join(dir, name, file);
        if (!fs.existsSync(full)) {
          problems.push(`${full} is missing`);
          continue;
        }
        try {
          Handlebars.parse(fs.readFileSync(full, 'utf8'));
        } catch (error) {
          problems.push(`${full} does not parse: ${describe(error).replace(/\s+/g, ' ')}`);
        }
      }
    }
    if (locale === DEFAULT_LOCALE) {
      for (const name of required.filter((n) => !present.includes(n))) problems.push(`${path.join(dir, name)} is missing (every event and scheduled email needs an ${DEFAULT_LOCALE} template)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`email templates in ${templatesDir}:\n  - ${problems.join('\n  - ')}`);
  return locales.sort();
}

/**
 * The templates directory a consumer uses: `dir`, else `TIDINGS_EMAIL_TEMPLATES`, else the
 * bundled templates. A directory of one's own is checked (`checkEmailTemplates`) first.
 */
export function resolveEmailTemplatesDir(dir?: string): string {
  const chosen = chosenEmailTemplatesDir(dir);
  if (chosen !== DEFAULT_TEMPLATES_DIR) checkEmailTemplates(chosen);
  return chosen;
}

/** `dir`, else `TIDINGS_EMAIL_TEMPLATES`, else the bundled templates, as an absolute path; not checked. */
export function chosenEmailTemplatesDir(dir?: string): string {
  const chosen = dir ?? readEnv().TIDINGS_EMAIL_TEMPLATES;
  return chosen === undefined || chosen === '' ? DEFAULT_TEMPLATES_DIR : path.resolve(chosen);
}
