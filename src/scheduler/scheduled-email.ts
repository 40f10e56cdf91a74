/**
 * Emails that no single event produces (renewal reminders, daily digests), rendered by the
 * email renderer from `templates/<locale>/<name>/` next to the event templates: the same
 * locale fallback, partials, helpers and versions.
 */
import { emailRendererFor, DEFAULT_TEMPLATES_DIR, type EmailRenderer, type RenderedEmail, type SCHEDULED_TEMPLATES } from '../notifications/email/render';

export type ScheduledTemplate = (typeof SCHEDULED_TEMPLATES)[number];

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

/** Renders one scheduled email; throws TemplateRenderError (permanent) when it cannot. */
export class ScheduledEmailRenderer {
  private readonly renderer: EmailRenderer;

  constructor(templatesDir = DEFAULT_TEMPLATES_DIR) {
    this.renderer = emailRendererFor(templatesDir);
  }

  render<C extends ScheduledEmailRoot>(template: ScheduledTemplate, context: C, audience: Audience): RenderedEmail {
    return this.renderer.renderTemplate(template, context, audience);
  }
}
