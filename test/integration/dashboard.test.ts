import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDeadLetterIndex, type DeadLetterIndex } from '../../consumers/dlq-index';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { ApiKeys } from '../../src/api/auth/api-keys';
import { startApiServer, type ApiServer } from '../../src/api/server';
import type { PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { listDeadLetters } from '../../src/ops/dlq/dead-letter-store';
import { listOperatorActions } from '../../src/ops/operator-actions';
import type { Publisher } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.cjs') as { ensureChromium(): string };

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');
const CUSTOMER = 'dashboard-grace@example.com';
const OTHER = 'dashboard-linus@example.com';

/**
 * The operations dashboard in a real browser (Debian's Chromium, driven by playwright-core):
 * an on-call engineer logs in with an API key, finds a dead letter the real notification group
 * produced, inspects it with personal data masked, redrives it, and sees it delivered.
 */
describe('the operations dashboard, in Chromium', () => {
  let ctx: TestContext;
  let publisher: Publisher;
  let notification: NotificationConsumer;
  let index: DeadLetterIndex;
  let api: ApiServer;
  let browser: Browser;
  let page: Page;
  let operateKey: string;
  let payment: PaymentSucceeded;

  beforeAll(async () => {
    const executablePath = ensureChromium();
    ctx = await createTestContext({ partitions: 2 });
    publisher = ctx.platform.createPublisher();
    await publisher.connect();
    notification = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification'), retryDelaysMs: [200] });
    index = await startDeadLetterIndex(ctx.platform, { groupId: ctx.groupId('dlq-index') });
    // The mailbox is refused for good (550) until the test lifts the refusal: a dead letter.
    ctx.mail.refuse({ code: 550, recipients: [CUSTOMER, OTHER] });
    const sample = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'u-grace' });
    payment = { ...sample, recipient: { ...sample.recipient, email: CUSTOMER, name: 'Grace Hopper' } };
    await publisher.publish('PAYMENT_SUCCEEDED', payment);
    const failed = sampleEvent('PAYMENT_FAILED', { user_id: 'u-linus' });
    await publisher.publish('PAYMENT_FAILED', { ...failed, recipient: { ...failed.recipient, email: OTHER } });
    await waitFor('both payments indexed as dead letters', async () => (await listDeadLetters(ctx.db, {}, 10)).length === 2, 30_000);
    ctx.mail.refuse(undefined);

    const keys = new ApiKeys(ctx.db);
    operateKey = (await keys.create({ name: 'oncall', scope: 'operate', actor: 'dashboard-test' })).key;
    api = await startApiServer({ db: ctx.db, platform: ctx.platform, userTokenSecret: randomBytes(32).toString('hex'), port: 0 });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await index?.stop();
    await notification?.stop();
    await publisher?.disconnect();
    await ctx?.dispose();
  });

  it('refuses an unknown key, then logs in with an operate key and shows the groups, the DLQ depth and the dead letter', async () => {
    await page.goto(`${api.url}/dashboard/`);
    await page.fill('#api-key', 'tdk_0000000000000000_notARealKeyAtAllButLongEnoughToLookLikeOne00');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-error:has-text("refused")');
    expect(await page.isVisible('#app')).toBe(false);

    await page.fill('#api-key', operateKey);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#who:has-text("oncall (operate)")');
    const row = page.locator('#dlq tbody tr', { hasText: 'PAYMENT_SUCCEEDED' });
    await row.waitFor();
    expect(await row.textContent()).toContain('u-grace');
    expect(await row.textContent()).toContain('parked');
    await page.locator('#lag tbody tr', { hasText: ctx.groupId('notification') }).first().waitFor();
    await page.locator('#depths tbody tr', { hasText: '.dlq' }).first().waitFor();
  });

  it('inspects the dead letter with the personal fields masked', async () => {
    await page.locator('#dlq tbody tr', { hasText: 'PAYMENT_SUCCEEDED' }).getByRole('button', { name: 'Inspect' }).click();
    await page.waitForSelector('#inspect:not([hidden]) #inspect-body:has-text("payment_id")');
    const shown = (await page.textContent('#inspect-body')) ?? '';
    expect(shown).toContain(payment.payment_id);
    expect(shown).toContain('recipient.email');
    expect(shown).not.toContain(CUSTOMER);
    expect(shown).not.toContain('Grace Hopper');
    await page.click('#inspect-close');
  });

  it('redrives it: the email is delivered, the row says redriven, the delivery shows as sent, and the action is recorded', async () => {
    await page.locator('#dlq tbody tr', { hasText: 'PAYMENT_SUCCEEDED' }).getByRole('button', { name: 'Redrive' }).click();
    await page.locator('#dlq tbody tr', { hasText: 'PAYMENT_SUCCEEDED' }).filter({ hasText: 'redriven' }).waitFor();
    await ctx.mail.waitFor((all) => all.some((m) => m.to.includes(CUSTOMER)), 30_000);
    // The page refreshes itself every 5 s; the sent row appears without a reload.
    const email = page.locator('#deliveries tbody tr', { hasText: 'PAYMENT_SUCCEEDED' }).filter({ hasText: 'email' });
    await email.filter({ has: page.locator('td.status-sent') }).first().waitFor({ timeout: 30_000 });
    // Recipients' addresses never reach the page, not even inside a provider's error text.
    expect(await page.textContent('body')).not.toContain(CUSTOMER);
    expect(await page.locator('#dlq tbody tr', { hasText: 'PAYMENT_SUCCEEDED' }).getByRole('button', { name: 'Redrive' }).count()).toBe(0);
    const [action] = await listOperatorActions(ctx.db, { action: 'dlq.redrive' });
    expect(action).toMatchObject({ actor: 'apikey:oncall', action: 'dlq.redrive' });

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(fs.statSync(path.join(ARTIFACTS, 'dashboard.png')).size).toBeGreaterThan(10_000);
  }, 90_000);

  it('discards the other dead letter with the reason asked for, which is recorded', async () => {
    const row = page.locator('#dlq tbody tr', { hasText: 'PAYMENT_FAILED' });
    page.once('dialog', (dialog) => void dialog.accept('duplicate charge, refunded by hand'));
    await row.getByRole('button', { name: 'Discard' }).click();
    await row.filter({ hasText: 'discarded' }).waitFor();
    expect(await row.getByRole('button', { name: 'Redrive' }).count()).toBe(0);
    const [action] = await listOperatorActions(ctx.db, { action: 'dlq.discard' });
    expect(action).toMatchObject({ actor: 'apikey:oncall', reason: 'duplicate charge, refunded by hand' });
    expect(ctx.mail.to(OTHER)).toEqual([]);
  });

  it('a read-only key sees the dead letters but its redrive is refused with 403', async () => {
    const readKey = (await new ApiKeys(ctx.db).create({ name: 'viewer', scope: 'read', actor: 'dashboard-test' })).key;
    const [deadLetter] = await listDeadLetters(ctx.db, { userId: 'u-grace' }, 1);
    const response = await fetch(`${api.url}/admin/dlq/${deadLetter?.id}/redrive`, { method: 'POST', headers: { authorization: `Bearer ${readKey}`, 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(403);
    const list = await fetch(`${api.url}/admin/dlq`, { headers: { authorization: `Bearer ${readKey}` } });
    expect(list.status).toBe(200);
  });
});
