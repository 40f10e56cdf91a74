import type { Command } from 'commander';
import { ConfigError } from '../../errors';
import { EVENT_TYPES, type EventType } from '../../events/generated';
import { sampleEvent, seededRng } from '../../events/samples';
import { checkEmailTemplates, chosenEmailTemplatesDir, createEmailRenderer, resolveEmailTemplatesDir, type EmailRenderer, type RenderedEmail } from '../../notifications/email/render';

function sampleFor(type: EventType, locale: string, seed: number): Parameters<EmailRenderer['render']>[1] {
  const event = sampleEvent(type, {}, seededRng(seed));
  event.recipient = { ...event.recipient, locale };
  return event;
}

function eventType(value: string): EventType {
  const type = EVENT_TYPES.find((t) => t === value.toUpperCase().replace(/-/g, '_'));
  if (!type) throw new ConfigError(`unknown event type "${value}" (one of ${EVENT_TYPES.join(', ')})`);
  return type;
}

/** `tidings templates check | preview`: what an operator runs before deploying their own email templates. */
export function registerTemplateCommands(program: Command): void {
  const templates = program.command('templates').description('email templates: check a template set, preview an email');

  templates
    .command('check')
    .description('check a template directory (layout, manifests, phrase books, syntax) and render every event type in every locale with sample data')
    .option('--dir <dir>', 'templates directory (default: TIDINGS_EMAIL_TEMPLATES, else the bundled templates)')
    .action((opts: { dir?: string }) => {
      const dir = chosenEmailTemplatesDir(opts.dir);
      const locales = checkEmailTemplates(dir);
      const renderer = createEmailRenderer({ templatesDir: dir });
      const failures: string[] = [];
      for (const locale of locales) {
        const versions = new Set<string>();
        let own = 0;
        for (const [i, type] of EVENT_TYPES.entries()) {
          try {
            const email = renderer.render(type, sampleFor(type, locale, i));
            versions.add(email.version);
            if (email.locale === locale) own++;
          } catch (error) {
            failures.push(`${locale} ${type}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
        const fallback = own < EVENT_TYPES.length ? ` (${EVENT_TYPES.length - own} fall back to another locale)` : '';
        console.log(`${locale}: ${own} of ${EVENT_TYPES.length} event types have a template of their own${fallback}; versions ${[...versions].join(', ')}`);
      }
      if (failures.length > 0) throw new ConfigError(`${failures.length} sample render(s) failed in ${dir}:\n  - ${failures.join('\n  - ')}`);
      console.log(`✓ ${dir}: every event type renders in ${locales.join(', ')}`);
    });

  templates
    .command('preview <event-type>')
    .description('render the email of an event type with sample data: subject and text, or the HTML')
    .option('--locale <locale>', 'recipient locale, e.g. fr-FR', 'en-US')
    .option('--html', 'print the HTML part instead of the text')
    .option('--dir <dir>', 'templates directory (default: TIDINGS_EMAIL_TEMPLATES, else the bundled templates)')
    .action((name: string, opts: { locale: string; html?: boolean; dir?: string }) => {
      const type = eventType(name);
      const renderer = createEmailRenderer({ templatesDir: resolveEmailTemplatesDir(opts.dir) });
      const email: RenderedEmail = renderer.render(type, sampleFor(type, opts.locale, 1));
      if (opts.html) {
        process.stdout.write(email.html);
        return;
      }
      console.log(`Subject: ${email.subject}\nTemplate: ${email.locale} (version ${email.version})\n\n${email.text}`);
    });
}
