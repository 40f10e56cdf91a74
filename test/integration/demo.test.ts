import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LocalStack } from '../../src/dev/stack';
import { deleteTestGroups } from '../helpers/consumer-groups';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { waitFor } from '../helpers/wait';

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** Processes of the demo's process group still running a few seconds after it exited. */
  leftBehind: string[];
}

const EXIT_TIMEOUT_MS = 150_000;

/**
 * `tidings demo --once` (what `npm start -- --once` runs) as a user runs it: the real CLI in
 * its own process, on this file's own topics (TIDINGS_TOPIC_PREFIX), database (DATABASE_URL)
 * and SMTP server, next to the shared stack it must find running and leave running.
 */
function runDemo(ctx: TestContext): Promise<DemoRun> {
  // Real provider credentials in the developer's shell must not send the test's SMS or pushes.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(TWILIO_|FCM_)/.test(key)));
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), 'demo', '--once', '--events', '150', '--users', '20', '--port', '0', '--otel-console'], {
    env: { ...env, DATABASE_URL: ctx.databaseUrl, TIDINGS_TOPIC_PREFIX: `${ctx.id}.`, SMTP_URL: ctx.mail.url, LOG_LEVEL: 'error' },
    // Its own process group, so the test can tell whether anything it started outlives it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), EXIT_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const group = child.pid ?? 0;
      // A child that is exiting right then gets a moment to finish.
      void waitFor('the demo\'s processes to end', () => groupMembers(group).length === 0, 5_000)
        .catch(() => undefined)
        .then(() => resolve({ code, signal, output, leftBehind: groupMembers(group) }));
    });
  });
}

/**
 * The living processes of a process group, from /proc. Zombies do not count: a child that
 * ended with the demo (tsx's esbuild service) stays a zombie until init reaps it.
 */
function groupMembers(pgid: number): string[] {
  return fs.readdirSync('/proc').flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) !== pgid || state === 'Z') return [];
      return [`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`];
    } catch {
      return []; // gone while we looked
    }
  });
}

/** The number on the summary line matching `pattern` (its first group). */
function reported(output: string, pattern: RegExp): number {
  const match = pattern.exec(output);
  if (!match?.[1]) throw new Error(`the demo did not report ${pattern}:\n${output}`);
  return Number(match[1]);
}

describe('npm start -- --once (tidings demo)', () => {
  let ctx: TestContext;
  let run: DemoRun;

  beforeAll(async () => {
    ctx = await createTestContext();
    run = await runDemo(ctx);
  }, EXIT_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    if (ctx) await deleteTestGroups(ctx);
    await ctx?.dispose();
  });

  it('exits 0 by itself, leaving no process behind and the shared stack running', async () => {
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    expect(run.output).toContain('✓ stopped everything the demo started');
    expect(run.leftBehind).toEqual([]);
    const stack = await new LocalStack().status();
    expect(stack.filter((c) => !c.up).map((c) => c.name)).toEqual([]);
  });

  it('reports email, SMS, push and in-app deliveries, and they match the ledger and the local endpoints', async () => {
    const sent = Object.fromEntries(['email', 'sms', 'push', 'in_app'].map((channel) => [channel, reported(run.output, new RegExp(`\\]\\s+${channel}\\s+sent (\\d+)`))]));
    for (const channel of Object.keys(sent)) expect([channel, sent[channel]! > 0]).toEqual([channel, true]);
    const rows = (await ctx.db('delivery_ledger').where({ status: 'sent' }).select('channel').count({ n: '*' }).groupBy('channel')) as Array<{ channel: string; n: string }>;
    expect(Object.fromEntries(rows.map((r) => [r.channel, Number(r.n)]))).toEqual(sent);
    expect(ctx.mail.messages).toHaveLength(sent.email!);
    expect(reported(run.output, /SMS received by the local Twilio API: (\d+)/)).toBe(sent.sms);
    expect(reported(run.output, /pushes received by the local FCM endpoint: (\d+)/)).toBe(sent.push);
  });

  it('sends French emails to the French-speaking sample users', async () => {
    const french = reported(run.output, /emails by template locale:.*\bfr (\d+)/);
    expect(french).toBeGreaterThan(0);
    const [row] = (await ctx.db('delivery_ledger').where({ channel: 'email', status: 'sent' }).andWhereLike('template_version', 'fr-%').count({ n: '*' })) as Array<{ n: string }>;
    expect(Number(row?.n)).toBe(french);
  });

  it('stores one receipt per payment and a verified, complete audit chain', () => {
    const match = /receipts stored: (\d+) for (\d+) PAYMENT_SUCCEEDED published/.exec(run.output);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeGreaterThan(0);
    expect(match![1]).toBe(match![2]);
    expect(run.output).toMatch(/audit log: 150 of 150 events appended; hash chain verified \(150 rows\)/);
  });

  it('with --otel-console, prints the trace of one payment: its send, each group\'s process span, and the notification group\'s provider calls beneath it', () => {
    const tree = /trace [0-9a-f]{32} of [0-9a-f-]{36}:\n((?:.*\n)*?).*✓ stopped/.exec(run.output)?.[1] ?? '';
    expect(tree).toMatch(new RegExp(`\\] +send ${ctx.id}\\.payment\\.events {2}tidings-demo {2}[\\d.]+ ms`));
    for (const group of ['notification', 'scheduler', 'audit', 'analytics']) expect(tree).toMatch(new RegExp(`[├└]─ process ${ctx.id}\\.payment\\.events \\[${ctx.id}\\.tidings\\.${group}\\]`));
    expect(tree).toMatch(/│? {2}[├└]─ smtp send \[smtp-primary\] {2}tidings-demo {2}[\d.]+ ms/);
  });

  it("answers over the HTTP API for a sample user, with that user's token", () => {
    expect(run.output).toMatch(/API: GET \/users\/\S+\/notifications\/unread-count → 200, \d+ unread in-app notifications/);
  });
});
