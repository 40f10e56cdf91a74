import { SMTPServer } from 'smtp-server';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { dlqTopic } from '../../src/consumer/retry-topology';
import type { PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { startConsumerProcess } from '../helpers/consumer-process';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { countRecords, readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const ADDRESS = 'ada.quoted@example.com';
const NAME = 'Ada Quotedname';

/**
 * A real SMTP server with a content filter that refuses every message at the end of DATA, its
 * reply quoting the recipient's address and the greeting line, which holds their name, as
 * mail systems do.
 */
async function quotingServer(): Promise<{ url: string; refused: () => number; close: () => Promise<void> }> {
  let refused = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        refused++;
        const greeting = /^Hi [^\r\n]+/m.exec(Buffer.concat(chunks).toString())?.[0] ?? '';
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        const error = new Error(`5.7.1 Message for <${to}> refused by content policy: "${greeting}"`) as Error & { responseCode: number };
        error.responseCode = 550;
        callback(error);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `smtp://127.0.0.1:${port}`, refused: () => refused, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('error text and logs carry no personal data', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx.dispose());

  it('when the SMTP server refuses a mail quoting the address and the name, neither is in the DLQ header, the ledger, its attempts or the worker’s log', async () => {
    const smtp = await quotingServer();
    const worker = startConsumerProcess(ctx, { env: { SMTP_URL: smtp.url, LOG_LEVEL: 'info' } });
    const publisher = ctx.platform.createPublisher();
    await publisher.connect();
    try {
      const base = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-quoted' });
      const event: PaymentSucceeded = { ...base, recipient: { ...base.recipient, email: ADDRESS, name: NAME, phone: '+14155550199' } };
      await publisher.publish('PAYMENT_SUCCEEDED', event);

      const dlq = dlqTopic({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] }, ctx.topics.payment);
      await waitFor('the dead letter', async () => (await countRecords(ctx.platform.kafka, dlq)) === 1, 60_000);
      expect(smtp.refused()).toBeGreaterThanOrEqual(1);

      const [dead] = await readTopic(ctx.platform.kafka, dlq);
      const header = dead?.headers[FAILURE_HEADERS.errorMessage] ?? '';
      // The server's reply is there, with what it quoted masked.
      expect(header).toContain('550');
      expect(header).toContain('refused by content policy');
      expect(header).toContain('***@example.com');
      const ledger: Array<{ status: string; error: string | null }> = await ctx.db('delivery_ledger').where({ event_id: event.event_id, channel: 'email' }).select('id', 'status', 'error');
      expect(ledger.map((r) => r.status)).toEqual(['failed']);
      const attempts: Array<{ error: string | null }> = await ctx.db('delivery_attempts').join('delivery_ledger', 'delivery_ledger.id', 'delivery_attempts.ledger_id').where('delivery_ledger.event_id', event.event_id).select('delivery_attempts.error');
      expect(attempts.length).toBeGreaterThanOrEqual(1);

      worker.child.kill('SIGTERM');
      const { output } = await worker.exited;
      expect(output).toContain('notification not sent');

      const texts = { header, ledger: ledger.map((r) => r.error ?? '').join('\n'), attempts: attempts.map((a) => a.error ?? '').join('\n'), log: output };
      for (const [where, text] of Object.entries(texts)) {
        expect([where, text.includes('content policy')]).toEqual([where, true]);
        for (const secret of [ADDRESS, NAME, 'ada.quoted']) expect([where, secret, text.includes(secret)]).toEqual([where, secret, false]);
      }
    } finally {
      worker.child.kill('SIGKILL');
      await publisher.disconnect();
      await smtp.close();
    }
  });
});
