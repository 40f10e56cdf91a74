import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { TemplateRenderError } from '../errors';
import { getEventDefinition } from '../events/catalog';
import type { EventMap, EventType } from '../events/generated';
import { registerHelpers } from './template-helpers';

/**
 * Short messages (SMS, push, in-app) from `templates/short/<locale>.json`: one file per
 * locale, each with a version recorded in the delivery ledger. A locale falls back from
 * `fr-CA` to `fr` to the default `en`, template by template. Rendering is strict: a missing
 * variable is a TemplateRenderError (non-retriable, the event goes to the DLQ).
 */
export type ShortChannel = 'sms' | 'push' | 'in_app';

export interface ShortMessage {
  title: string;
  text: string;
  /** `<locale file version>`, e.g. `en-2026.11.1`. */
  version: string;
}

interface TemplateFile {
  version: string;
  templates: Partial<Record<EventType, Partial<Record<ShortChannel, { title?: string; body: string }>>>>;
}

const DIR = path.resolve(__dirname, 'templates', 'short');
export const DEFAULT_LOCALE = 'en';

const env = Handlebars.create();
registerHelpers(env);
const files = new Map<string, TemplateFile | null>();
const compiled = new Map<string, HandlebarsTemplateDelegate>();

function load(locale: string): TemplateFile | null {
  if (!files.has(locale)) {
    const file = path.join(DIR, `${locale}.json`);
    files.set(locale, fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as TemplateFile) : null);
  }
  return files.get(locale) ?? null;
}

/** `fr-CA` → [`fr-CA`, `fr`, `en`]. */
export function localeChain(locale: string | undefined): string[] {
  const chain: string[] = [];
  if (locale) {
    chain.push(locale);
    const language = locale.split('-')[0];
    if (language && language !== locale) chain.push(language);
  }
  if (!chain.includes(DEFAULT_LOCALE)) chain.push(DEFAULT_LOCALE);
  return chain;
}

export function renderShort<T extends EventType>(type: T, channel: ShortChannel, event: EventMap[T]): ShortMessage {
  const name = `${channel}/${type}`;
  for (const locale of localeChain(event.recipient.locale)) {
    const file = load(locale);
    const template = file?.templates[type]?.[channel];
    if (!file || !template) continue;
    try {
      // Schema defaults filled in, so strict templates can test optional fields producers omitted.
      const context = getEventDefinition(type).avroType.clone(event) as EventMap[T];
      const data = { locale: event.recipient.locale ?? 'en-US', timeZone: event.recipient.time_zone ?? 'UTC' };
      const run = (part: 'title' | 'body', source: string): string => {
        const key = `${locale}/${name}/${part}`;
        let fn = compiled.get(key);
        if (!fn) compiled.set(key, (fn = env.compile(source, { strict: true, noEscape: true })));
        return fn(context, { data }).replace(/\s+/g, ' ').trim();
      };
      return { title: template.title ? run('title', template.title) : '', text: run('body', template.body), version: file.version };
    } catch (error) {
      throw new TemplateRenderError(`${locale}/${name}`, error);
    }
  }
  throw new TemplateRenderError(name, new Error(`no ${channel} template for ${type} in ${localeChain(event.recipient.locale).join(' → ')}`));
}
