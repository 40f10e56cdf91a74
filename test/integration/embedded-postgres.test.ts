import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createDb, type Db } from '../../src/db/database';
import { LocalStack } from '../../src/dev/stack';
import { isPortFree } from '../../src/dev/ports';
import { readEnv } from '../../src/config/env';
import { deleteTestGroups } from '../helpers/consumer-groups';
import { freePort } from '../helpers/free-port';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings, type CliResult } from '../helpers/tidings-cli';

const DEMO_EVENTS = 60;

/** The line of `dev status` about one component. */
function statusLine(result: CliResult, component: string): string {
  return result.stdout.split('\n').find((line) => line.split(/\s+/)[1] === component) ?? `(no ${component} line in:\n${result.stdout}${result.stderr})`;
}

/**
 * On a machine without PostgreSQL, `tidings dev up` runs its own from Maven Central's
 * binaries. These machines do run one at 5432, so TIDINGS_EMBEDDED_POSTGRES=1 forces the
 * embedded server, on a free port and under a stack home of this file's own; Kafka, the
 * registry and the SMTP catcher are the shared stack's, reused as already running.
 */
describe('tidings dev up with its own PostgreSQL (TIDINGS_EMBEDDED_POSTGRES=1)', () => {
  let ctx: TestContext;
  let home: string;
  let port: number;
  let stackEnv: Record<string, string>;
  let up: CliResult;
  let statusWhileUp: CliResult;
  let demo: CliResult;
  let db: Db;

  beforeAll(async () => {
    ctx = await createTestContext();
    // Traversable by the unprivileged account the server runs as when the test runs as root.
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-embedded-pg-'));
    fs.chmodSync(home, 0o755);
    port = await freePort();
    stackEnv = { TIDINGS_HOME: home, TIDINGS_EMBEDDED_POSTGRES: '1', TIDINGS_POSTGRES_PORT: String(port) };
    up = await runTidings(['dev', 'up'], stackEnv);
    // The first start's cost (download through Maven, unpack, initdb), for the CI log.
    process.stdout.write(`${up.stdout.split('\n').find((line) => line.startsWith('✓ PostgreSQL')) ?? up.stdout + up.stderr}\n`);
    statusWhileUp = await runTidings(['dev', 'status'], stackEnv);
    // The demo's own database on the embedded server, named by DATABASE_URL as a user would.
    const databaseUrl = `postgres://postgres@localhost:${port}/tidings_demo`;
    demo = await runTidings(['demo', '--once', '--events', String(DEMO_EVENTS), '--users', '12', '--port', '0'], {
      ...stackEnv,
      DATABASE_URL: databaseUrl,
      TIDINGS_TOPIC_PREFIX: `${ctx.id}.`,
      SMTP_URL: ctx.mail.url,
      LOG_LEVEL: 'error',
    });
    db = createDb(databaseUrl, { poolMax: 2 });
  }, 150_000);

  afterAll(async () => {
    await db?.destroy();
    if (stackEnv) await runTidings(['dev', 'down'], stackEnv);
    if (ctx) {
      await deleteTestGroups(ctx);
      await ctx.dispose();
    }
    if (home) fs.rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it('starts PostgreSQL 17.5 from the Maven Central binaries on the chosen port, reusing the running Kafka, registry and SMTP', () => {
    expect({ code: up.code, stderr: up.stderr }).toEqual({ code: 0, stderr: '' });
    const started = up.stdout.split('\n').find((line) => line.startsWith('✓ PostgreSQL'));
    expect(started).toContain(`✓ PostgreSQL 17.5.0 (embedded): started (TIDINGS_EMBEDDED_POSTGRES=1); 127.0.0.1:${port}; data in ${path.join(home, 'postgres')} (initialised now)`);
    if (process.getuid?.() === 0) expect(started).toMatch(/; runs as user tidings-pg( \(account created now\))?, since PostgreSQL refuses to run as root/);
    for (const component of ['Kafka 4.4.0', 'Apicurio Registry 3.3.3', 'SMTP mail catcher']) expect(up.stdout).toMatch(new RegExp(`✓ ${component}: \\S+ \\(already running\\)`));
    expect(statusLine(statusWhileUp, 'postgres')).toMatch(new RegExp(`^up\\s+postgres\\s+postgres://postgres@127\\.0\\.0\\.1:${port}/tidings\\s+PostgreSQL 17\\.5\\.0 \\(embedded\\)$`));
    expect(statusWhileUp.code).toBe(0);
  });

  it("runs the demo's burst through every consumer group against it", async () => {
    expect({ code: demo.code, stderr: demo.stderr }).toEqual({ code: 0, stderr: '' });
    expect(demo.stdout).toContain('✓ the burst went through every consumer group');
    // The server answering is the embedded one: PostgreSQL 17 (the machine's own is another version).
    const { rows } = (await db.raw('SHOW server_version')) as { rows: Array<{ server_version: string }> };
    expect(rows[0]?.server_version).toBe('17.5');
    const inbox = (await db('inbox').select('consumer_group').count({ n: '*' }).groupBy('consumer_group')) as Array<{ consumer_group: string; n: string }>;
    const processed = Object.fromEntries(inbox.map((row) => [row.consumer_group, Number(row.n)]));
    expect(processed).toEqual({
      [`${ctx.id}.tidings.notification`]: expect.any(Number),
      [`${ctx.id}.tidings.audit`]: DEMO_EVENTS,
      [`${ctx.id}.tidings.analytics`]: DEMO_EVENTS,
      [`${ctx.id}.tidings.scheduler`]: expect.any(Number),
    });
    expect(processed[`${ctx.id}.tidings.notification`]).toBeGreaterThan(0);
    expect(processed[`${ctx.id}.tidings.scheduler`]).toBeGreaterThan(0);
    const [ledger] = (await db('delivery_ledger').where({ status: 'sent' }).count({ n: '*' })) as Array<{ n: string }>;
    expect(Number(ledger?.n)).toBeGreaterThan(0);
    expect(ctx.mail.messages.length).toBeGreaterThan(0);
    expect(demo.stdout).toMatch(new RegExp(`audit log: ${DEMO_EVENTS} of ${DEMO_EVENTS} events appended; hash chain verified`));
    const [counted] = (await db('analytics_event_counts').sum({ n: 'count' })) as Array<{ n: string }>;
    expect(Number(counted?.n)).toBe(DEMO_EVENTS);
  });

  it('dev down stops it: the port is free again and dev status says it is stopped', async () => {
    const down = await runTidings(['dev', 'down'], stackEnv);
    expect({ code: down.code, stdout: down.stdout.trim() }).toEqual({ code: 0, stdout: 'stopped: postgres' });
    expect(await isPortFree(port)).toBe(true);
    const status = await runTidings(['dev', 'status'], stackEnv);
    expect(statusLine(status, 'postgres')).toMatch(/^DOWN\s+postgres\s+\S+\s+PostgreSQL 17\.5\.0 \(embedded, stopped\)$/);
    // The shared stack's components were reused, never stopped.
    for (const component of ['kafka', 'registry', 'smtp']) expect(statusLine(status, component)).toMatch(/^up\s/);
  });
});

describe('tidings dev up checks before it starts anything', () => {
  it('names the process on a port the embedded PostgreSQL needs, with the fix', async () => {
    // These machines' own PostgreSQL holds 5432 (or, on a machine without one, the shared stack's embedded server does).
    const base = new URL(readEnv().DATABASE_URL);
    const occupied = Number(base.port || 5432);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-prereq-'));
    try {
      const stack = new LocalStack({ home, env: readEnv({ ...process.env, TIDINGS_EMBEDDED_POSTGRES: '1', TIDINGS_POSTGRES_PORT: String(occupied), DATABASE_URL: '' }) });
      await expect(stack.up()).rejects.toThrow(
        new RegExp(
          `the local stack cannot start:\\n  - port ${occupied} is held by (pid \\d+ \\(.*\\)|another process \\(not visible to this user\\)), which is not this stack's PostgreSQL: ` +
            'set TIDINGS_POSTGRES_PORT to a free port, or unset TIDINGS_EMBEDDED_POSTGRES to use the server there$',
        ),
      );
      // Checked before anything was downloaded or started.
      expect(fs.readdirSync(home)).toEqual([]);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('names a port held by something that is not a Kafka broker, instead of waiting for a broker that cannot start', async () => {
    // Something else entirely: it answers like a web server and hangs up.
    const stray = net.createServer((socket) => socket.end('HTTP/1.0 200 OK\r\n\r\n', () => socket.destroy()));
    await new Promise<void>((resolve) => stray.listen(0, '127.0.0.1', resolve));
    const { port } = stray.address() as net.AddressInfo;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-prereq-'));
    try {
      const stack = new LocalStack({ home, env: readEnv({ ...process.env, TIDINGS_KAFKA_PORT: String(port) }) });
      const failure = await stack.up().then(
        () => new Error('dev up succeeded'),
        (error: Error) => error,
      );
      // This test process holds the port: named by pid on Linux, where /proc shows who listens.
      const holder = process.platform === 'linux' ? `pid ${process.pid} \\([^)]*\\)` : 'another process';
      expect(failure.message).toMatch(
        new RegExp(
          `\\n  - port ${port} is held by ${holder}, which is not a Kafka broker: ` +
            'stop it, set TIDINGS_KAFKA_PORT to a free port \\(the controller uses the next one\\), or set KAFKA_BROKERS to a broker of yours(\\n|$)',
        ),
      );
    } finally {
      await new Promise((resolve) => stray.close(resolve));
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
