import type { SendMailOptions } from 'nodemailer';
import pLimit from 'p-limit';
import type { TypedEvent } from '../../src/events/generated';
import { defaultEmailRenderer } from '../../src/notifications/email/render';
import { createSmtpTransport, mailOptions } from '../../src/notifications/providers/smtp-provider';
import { benchEvents } from '../harness/fixtures';
import { openIsolatedStack } from '../harness/isolated-stack';
import { drain, eventsOn, publishAll, type Drained } from '../harness/pipeline-drain';
import { fromSamples, type Scenario } from '../harness/scenario';
import { SmtpSink } from '../harness/smtp-sink';

const EVENTS = 10_000;
const QUICK_EVENTS = 2_000;
/** Within run.ts's 5-minute scenario deadline, leaving time to clean up. */
const BUDGET_MS = 4 * 60_000;
/** The SMTP provider's default pooled connections, and the sends the notification handler keeps in flight (its default sendConcurrency). */
const CONNECTIONS = 4;
const IN_FLIGHT = 16;
/** The bench stack's sender (Endpoints.mailFrom), as the worker's SMTP provider uses it. */
const FROM = 'Tidings <no-reply@tidings.local>';
const MESSAGE_DOMAIN = 'tidings.local';

/**
 * The email path measured honestly: the notification pipeline draining a backlog with email
 * enabled, against a bare nodemailer pooled transport sending the same messages, pre-rendered,
 * to the same SMTP server at the same concurrency. The server is Postfix's `smtp-sink`, a C
 * server that accepts and discards, so neither side pays for a Node mail catcher on the same
 * two cores. Both sides are counted by the sink; the pipeline's sends are checked against its
 * ledger. Rounds alternate pipeline, bare, pipeline, bare…
 */
export const emailPath: Scenario = {
  name: 'email-path',
  description:
    'notification pipeline with email to Postfix smtp-sink (inbox, ledger, in-app, email) vs a bare nodemailer pooled send of the same pre-rendered messages to the same sink, ' +
    `${CONNECTIONS} connections, ${IN_FLIGHT} in flight`,
  async run(ctx) {
    const deadline = Date.now() + BUDGET_MS;
    const events = benchEvents(ctx.quick ? QUICK_EVENTS : Math.min(ctx.events, EVENTS));
    const own = await openIsolatedStack(await ctx.stack(), 'mail');
    const sink = await SmtpSink.start();
    try {
      const platform = own.platform();
      ctx.progress(`publishing ${events.length} events; SMTP server: Postfix smtp-sink ${sink.version} at ${sink.url}`);
      await publishAll(platform, events);
      const total = await eventsOn(platform, own.topics);
      if (total !== events.length) throw new Error(`published ${events.length} events but the topics hold ${total}`);

      const pipelineRates: number[] = [];
      const bareRates: number[] = [];
      let messages: SendMailOptions[] | undefined;
      let emails = 0;
      let lastRoundMs = 0;
      for (let round = 1; round <= ctx.rounds; round++) {
        if (Date.now() + 1.5 * lastRoundMs > deadline) {
          ctx.progress(`  round ${round} skipped: not enough time left in the scenario's budget`);
          break;
        }
        const started = Date.now();
        const before = sink.accepted;
        const run = await drain(own, `round${round}`, { stopAt: total, deadline, smtpUrl: sink.url, progress: ctx.progress });
        if (run.committed < total) throw new Error(`the pipeline committed ${run.committed} of ${total} events within the budget`);
        const sent = await emailsSent(run);
        await sink.waitFor(before + sent.length, 10_000);
        if (sink.accepted - before !== sent.length) throw new Error(`the ledger says ${sent.length} emails were sent, the sink accepted ${sink.accepted - before}`);
        pipelineRates.push(sent.length / run.seconds);
        // The baseline sends exactly what the pipeline sent, rendered before the clock starts.
        messages ??= render(sent, events);
        emails = messages.length;
        bareRates.push(await bareSend(sink, messages));
        ctx.progress(`  round ${round}: pipeline ${Math.round(pipelineRates.at(-1) ?? 0)} emails/s (${run.seconds.toFixed(1)} s), bare nodemailer ${Math.round(bareRates.at(-1) ?? 0)} emails/s`);
        lastRoundMs = Date.now() - started;
      }
      const detail = { events: total, emails, connections: CONNECTIONS, inFlight: IN_FLIGHT, smtpServer: `postfix smtp-sink ${sink.version}` };
      return {
        measurements: [fromSamples('pipeline-with-email', 'emails/s', pipelineRates, detail), fromSamples('bare-nodemailer', 'emails/s', bareRates, detail)],
        comparisons: [{ measurement: 'pipeline-with-email', baseline: 'bare-nodemailer', target: 0.7, note: 'pipeline ÷ bare pooled nodemailer, same messages, same sink' }],
      };
    } finally {
      await sink.close();
      await own.dispose();
    }
  },
};

/** The emails the pipeline's ledger records as sent: event and recipient. */
async function emailsSent(run: Drained): Promise<Array<{ event_id: string; recipient: string }>> {
  return run.platform.db('delivery_ledger').where({ channel: 'email', status: 'sent' }).select('event_id', 'recipient');
}

/** The same messages as the SMTP provider builds (templates, headers, Message-ID, encoding: its own `mailOptions`), built up front. */
function render(sent: Array<{ event_id: string; recipient: string }>, events: TypedEvent[]): SendMailOptions[] {
  const byId = new Map(events.map((e) => [e.event.event_id, e]));
  const renderer = defaultEmailRenderer();
  return sent.map(({ event_id, recipient }) => {
    const typed = byId.get(event_id);
    if (!typed) throw new Error(`the ledger names event ${event_id}, which the bench did not publish`);
    const email = renderer.render(typed.type, typed.event);
    const message = {
      channel: 'email' as const,
      eventId: event_id,
      userId: typed.event.user_id,
      recipient,
      idempotencyKey: `${event_id}.email@${MESSAGE_DOMAIN}`,
      title: email.subject,
      text: email.text,
      html: email.html,
      data: { eventType: typed.type, eventId: event_id },
    };
    return mailOptions(message, FROM, MESSAGE_DOMAIN);
  });
}

/** Emails/s of the SMTP provider's pooled transport (same settings) sending every message, `IN_FLIGHT` at a time, until the sink has them all. */
async function bareSend(sink: SmtpSink, messages: SendMailOptions[]): Promise<number> {
  const transport = createSmtpTransport({ url: sink.url, from: FROM, maxConnections: CONNECTIONS });
  const limit = pLimit(IN_FLIGHT);
  const before = sink.accepted;
  try {
    const start = process.hrtime.bigint();
    await Promise.all(messages.map((m) => limit(() => transport.sendMail(m))));
    await sink.waitFor(before + messages.length, 10_000);
    return messages.length / (Number(process.hrtime.bigint() - start) / 1e9);
  } finally {
    transport.close();
  }
}
