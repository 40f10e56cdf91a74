import nodemailer, { type SendMailOptions } from 'nodemailer';
import pLimit from 'p-limit';
import type { TypedEvent } from '../../src/events/generated';
import type { OutboundMessage } from '../../src/notifications/channels/channel';
import { defaultEmailRenderer } from '../../src/notifications/email/render';
import { SmtpProvider, mailOptions } from '../../src/notifications/providers/smtp-provider';
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
      const providerRates: number[] = [];
      let messages: OutboundMessage[] | undefined;
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
        bareRates.push(await bareSend(sink, messages.map((m) => mailOptions(m, FROM, MESSAGE_DOMAIN))));
        providerRates.push(await providerSend(sink, messages));
        ctx.progress(
          `  round ${round}: pipeline ${Math.round(pipelineRates.at(-1) ?? 0)} emails/s (${run.seconds.toFixed(1)} s), bare nodemailer ${Math.round(bareRates.at(-1) ?? 0)} emails/s, ` +
            `SMTP provider alone ${Math.round(providerRates.at(-1) ?? 0)} emails/s`,
        );
        lastRoundMs = Date.now() - started;
      }
      const detail = { events: total, emails, connections: CONNECTIONS, inFlight: IN_FLIGHT, smtpServer: `postfix smtp-sink ${sink.version}` };
      return {
        measurements: [
          fromSamples('pipeline-with-email', 'emails/s', pipelineRates, detail),
          fromSamples('bare-nodemailer', 'emails/s', bareRates, detail),
          fromSamples('smtp-provider-alone', 'emails/s', providerRates, detail),
        ],
        comparisons: [
          {
            measurement: 'pipeline-with-email',
            baseline: 'bare-nodemailer',
            target: 0.7,
            note: 'pipeline ÷ bare pooled nodemailer, same messages, same sink',
            whyMissed:
              'profile in docs/performance.md, "Email path": the SMTP side is no longer the cost (smtp-provider-alone sends the same messages several times faster); ' +
              'what remains is the pipeline\'s own work per email (claim, render, ledger, in-app, decode, commit) on the cores the sink, broker and PostgreSQL share.',
          },
          { measurement: 'pipeline-with-email', baseline: 'smtp-provider-alone', note: "pipeline ÷ Tidings' own SMTP provider sending the same messages with nothing else: the pipeline's own share" },
        ],
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

/** The messages the pipeline sent (templates, recipient, Message-ID key, headers), rendered before any clock starts. */
function render(sent: Array<{ event_id: string; recipient: string }>, events: TypedEvent[]): OutboundMessage[] {
  const byId = new Map(events.map((e) => [e.event.event_id, e]));
  const renderer = defaultEmailRenderer();
  return sent.map(({ event_id, recipient }) => {
    const typed = byId.get(event_id);
    if (!typed) throw new Error(`the ledger names event ${event_id}, which the bench did not publish`);
    const email = renderer.render(typed.type, typed.event);
    return {
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
  });
}

/**
 * Emails/s of a bare nodemailer pooled transport, with the SMTP provider's defaults (4
 * connections, 1,000 messages each), sending every message as the provider describes it
 * (its own `mailOptions`), `IN_FLIGHT` at a time, until the sink has them all.
 */
async function bareSend(sink: SmtpSink, messages: SendMailOptions[]): Promise<number> {
  const transport = nodemailer.createTransport({ url: sink.url, pool: true, maxConnections: CONNECTIONS, maxMessages: 1_000 });
  try {
    return await sendAll(sink, messages.length, (i) => transport.sendMail(messages[i] as SendMailOptions));
  } finally {
    transport.close();
  }
}

/** Emails/s of Tidings' SMTP provider alone (one-pass MIME, its connection pool), same messages, same concurrency. */
async function providerSend(sink: SmtpSink, messages: OutboundMessage[]): Promise<number> {
  const provider = new SmtpProvider({ url: sink.url, from: FROM, maxConnections: CONNECTIONS });
  try {
    return await sendAll(sink, messages.length, (i) => provider.send(messages[i] as OutboundMessage));
  } finally {
    provider.close();
  }
}

async function sendAll(sink: SmtpSink, count: number, send: (i: number) => Promise<unknown>): Promise<number> {
  const limit = pLimit(IN_FLIGHT);
  const before = sink.accepted;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: count }, (_, i) => limit(() => send(i))));
  await sink.waitFor(before + count, 10_000);
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}
