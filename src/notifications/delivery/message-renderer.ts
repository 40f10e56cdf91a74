import type { EventRecord } from '../../consumer/messages';
import type { EventMap, EventType } from '../../events/generated';
import type { ChannelName, OutboundMessage } from '../channels/channel';
import type { EmailRenderer } from '../email/render';
import { renderShort } from '../short-render';

export type RenderedMessage = OutboundMessage & { templateVersion: string };

/**
 * The message of one (event, channel, recipient), in the recipient's locale: email from the
 * email templates, SMS/push/in-app from the short templates. Its idempotency key (Message-ID,
 * provider idempotency keys) is stable, so a copy sent again can be recognised.
 */
export class MessageRenderer {
  constructor(
    private readonly emailRenderer: EmailRenderer,
    private readonly domain: string,
  ) {}

  render(row: { channel: ChannelName; recipient: string }, event: EventRecord): RenderedMessage {
    const payload = event.payload as unknown as EventMap[EventType];
    const base = {
      channel: row.channel,
      eventId: event.eventId,
      userId: payload.user_id,
      recipient: row.recipient,
      idempotencyKey: `${event.eventId}.${row.channel}@${this.domain}`,
    };
    const data = { eventType: event.type, eventId: event.eventId };
    if (row.channel === 'email') {
      const email = this.emailRenderer.render(event.type, payload);
      return { ...base, title: email.subject, text: email.text, html: email.html, data, templateVersion: email.version };
    }
    const short = renderShort(event.type, row.channel, payload);
    return { ...base, title: short.title, text: short.text, data, templateVersion: short.version };
  }
}
