import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { FAILURE_HEADERS } from '../../src/consumer/failure-headers';
import { dlqTopic } from '../../src/consumer/retry-topology';
import { sampleEvent } from '../../src/events/samples';
import { DEFAULT_TEMPLATES_DIR } from '../../src/notifications/email/render';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const REPO = path.resolve(__dirname, '../..');

/** A copy of the bundled templates that a test may edit. */
function templateCopy(edit: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-templates-'));
  fs.cpSync(DEFAULT_TEMPLATES_DIR, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Operators' own email templates (`TIDINGS_EMAIL_TEMPLATES`) in the running notification group. */
describe('email templates of one’s own', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let consumer: NotificationConsumer;
  const dirs: string[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
  });

  afterAll(async () => {
    await consumer?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends with the custom templates and records their version; a template that cannot render dead-letters its event without retries, and the rest flow on', async () => {
    const dir = templateCopy((d) => {
      fs.writeFileSync(path.join(d, 'en', 'manifest.json'), JSON.stringify({ version: 'acme-7' }));
      fs.writeFileSync(path.join(d, 'en', 'payment-succeeded', 'subject.hbs'), 'ACME receipt {{payment_id}}');
      // Parses, but names a field refunds do not have: fails when rendered (strict mode).
      fs.appendFileSync(path.join(d, 'en', 'refund-processed', 'text.hbs'), '\n{{loyalty_points}}\n');
    });
    dirs.push(dir);
    consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification'), emailTemplatesDir: dir, retryDelaysMs: [200, 400] });

    const payment = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'tpl-payer' });
    payment.recipient = { ...payment.recipient, email: 'tpl-payer@example.com', locale: 'en-GB' };
    const refund = sampleEvent('REFUND_PROCESSED', { user_id: 'tpl-refunded' });
    refund.recipient = { ...refund.recipient, email: 'tpl-refunded@example.com', locale: 'en-US' };
    await publisher.publish('REFUND_PROCESSED', refund);
    await publisher.publish('PAYMENT_SUCCEEDED', payment);

    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('tpl-payer@example.com')));
    const mail = ctx.mail.messages.find((m) => m.to.includes('tpl-payer@example.com'));
    expect(mail?.subject).toBe(`ACME receipt ${payment.payment_id}`);
    await waitFor('the receipt email to be recorded', async () =>
      (await ctx.db('delivery_ledger').where({ event_id: payment.event_id, channel: 'email' })).some((r: { status: string }) => r.status === 'sent'),
    );
    expect(await ctx.db('delivery_ledger').where({ event_id: payment.event_id, channel: 'email' }).first()).toMatchObject({ template_version: 'en-acme-7' });

    const [dead] = await readTopic(ctx.platform.kafka, dlqTopic({ name: 'notification', sources: [ctx.topics.auth, ctx.topics.payment], delaysMs: [] }, ctx.topics.payment));
    expect(dead?.headers).toMatchObject({
      'tidings-event-id': refund.event_id,
      [FAILURE_HEADERS.errorClass]: 'TemplateRenderError',
      [FAILURE_HEADERS.errorCode]: 'TEMPLATE_RENDER_FAILED',
      [FAILURE_HEADERS.attempts]: '1',
    });
    expect(dead?.headers[FAILURE_HEADERS.errorMessage]).toMatch(/en\/refund-processed\/text.*loyalty_points/);
    expect(consumer.runtime.stats.retried).toBe(0);
    expect(await ctx.db('delivery_ledger').where({ event_id: refund.event_id, channel: 'email' }).first()).toMatchObject({ status: 'failed', reason: 'template' });
    expect(ctx.mail.messages.filter((m) => m.to.includes('tpl-refunded@example.com'))).toEqual([]);

    // The group keeps going: the refunded user's next payment is emailed.
    const next = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'tpl-refunded' });
    next.recipient = { ...next.recipient, email: 'tpl-refunded@example.com', locale: 'en-US' };
    await publisher.publish('PAYMENT_SUCCEEDED', next);
    await ctx.mail.waitFor((all) => all.some((m) => m.subject === `ACME receipt ${next.payment_id}`));
  });

  it('refuses to start on a broken template set, naming every problem, before reading any event', async () => {
    const dir = templateCopy((d) => {
      fs.rmSync(path.join(d, 'en', 'invoice-generated'), { recursive: true });
      fs.writeFileSync(path.join(d, 'fr', 'login-alert', 'subject.hbs'), '{{#if client.location}}Connexion');
      fs.rmSync(path.join(d, 'fr', 'manifest.json'));
    });
    dirs.push(dir);
    const started = startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('broken-templates'), emailTemplatesDir: dir });
    await expect(started).rejects.toMatchObject({ name: 'ConfigError' });
    const message = await started.then(
      () => '',
      (error: Error) => error.message,
    );
    expect(message).toContain(path.join(dir, 'en', 'invoice-generated'));
    expect(message).toContain(path.join(dir, 'fr', 'manifest.json'));

    // `tidings templates check` says the same to an operator before a deploy, with exit code 1.
    const check = spawnSync(process.execPath, [path.join(REPO, 'bin', 'tidings.cjs'), 'templates', 'check', '--dir', dir], { encoding: 'utf8', cwd: REPO });
    expect(check.status).toBe(1);
    expect(check.stderr).toContain(`${path.join(dir, 'en', 'invoice-generated')} is missing`);
    fs.writeFileSync(path.join(dir, 'fr', 'manifest.json'), JSON.stringify({ version: '1' }));
    const again = spawnSync(process.execPath, [path.join(REPO, 'bin', 'tidings.cjs'), 'templates', 'check', '--dir', dir], { encoding: 'utf8', cwd: REPO });
    expect(again.stderr).toContain(`${path.join(dir, 'fr', 'login-alert', 'subject.hbs')} does not parse`);
    const groups = ctx.platform.kafka.admin();
    await groups.connect();
    try {
      expect((await groups.listGroups()).groups.map((g) => g.groupId)).not.toContain(ctx.groupId('broken-templates'));
    } finally {
      await groups.disconnect();
    }
  });
});
