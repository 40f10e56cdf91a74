import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveEndpoints } from '../../src/config/env';
import { createDb, dropDatabase, ensureDatabase } from '../../src/db/database';
import { MailCatcher } from '../../src/dev/mail-catcher';
import { listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { prefixedTopics } from '../../src/kafka/topics';
import { Platform } from '../../src/platform';
import { jsonClient } from '../helpers/http';
import { declaredNodeLines, nodeLines, type NodeRuntime } from '../helpers/node-lines';
import { childEnv, installExample, packRepository, runNode, startNode, type Finished, type RunningProcess } from '../helpers/packed-package';
import { waitFor } from '../helpers/wait';

/**
 * Tidings as its users get it: `npm pack`, then the two services in examples/ copied outside
 * the repository install the tarball. The TypeScript service is compiled by its own tsc; then,
 * under every declared Node line, the JavaScript service publishes through the typed payment
 * producer, the TypeScript service signs a user up and asks for a password reset through the
 * outbox, and the installed `tidings` CLI (topics, schemas, migrate, outbox relay, notification
 * worker) delivers all four emails against the real stack.
 */
const ROOT = path.resolve(__dirname, '../..');
const id = `p${randomBytes(4).toString('hex')}`;
const base = resolveEndpoints();
const databaseUrl = ((url) => {
  url.pathname = `/tidings_${id}`;
  return url.toString();
})(new URL(base.databaseUrl));
const APP_URL = 'https://auth.example.test';
const MIGRATIONS = fs.readdirSync(path.join(ROOT, 'migrations')).filter((f) => /^\d{3}_.+\.ts$/.test(f));

let work: string;
let authDir: string;
let paymentDir: string;
let runtimes: NodeRuntime[] = [];
let mail: MailCatcher;
let compiled = false;
const prefixes: string[] = [];

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function ending(finished: Finished, what: string): Error {
  return new Error(`${what} exited with ${finished.code ?? finished.signal}\n--- stdout\n${finished.stdout.slice(-4000)}\n--- stderr\n${finished.stderr.slice(-4000)}`);
}

/** Fails with the process's output when it did not exit 0. */
function expectSuccess(finished: Finished, what: string): Finished {
  if (finished.code !== 0) throw ending(finished, what);
  return finished;
}

/** `condition`, failing at once (with their output) if one of `workers` ends before it holds. */
function whileRunning<T>(condition: Promise<T>, workers: Record<string, RunningProcess>): Promise<T> {
  const ended = Object.entries(workers).map(([name, worker]) =>
    worker.exited.then((finished): never => {
      throw ending(finished, `${name}, before the condition held,`);
    }),
  );
  return Promise.race([condition, ...ended]);
}

beforeAll(async () => {
  const started = Date.now();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-pack-'));
  const packDir = path.join(work, 'pack');
  const servicesDir = path.join(work, 'services');
  fs.mkdirSync(packDir);
  fs.mkdirSync(servicesDir);
  const [packed, lines, catcher] = await Promise.all([
    packRepository(packDir),
    nodeLines(),
    MailCatcher.start(),
    ensureDatabase(databaseUrl),
  ]);
  runtimes = lines;
  mail = catcher;
  console.log(`pack (with build): ${seconds(started)}; ${path.basename(packed.tarball)} ${(packed.size / 1024).toFixed(0)} KiB, ${packed.files} files`);
  const installing = Date.now();
  [authDir, paymentDir] = await Promise.all([
    installExample('auth-service', packed.tarball, servicesDir),
    installExample('payment-service', packed.tarball, servicesDir),
  ]);
  console.log(`npm install of both services (in parallel): ${seconds(installing)}; Node lines: ${runtimes.map((r) => r.version).join(', ')}`);
}, 300_000);

afterAll(async () => {
  await mail?.close();
  const platform = new Platform({ endpoints: { ...base, databaseUrl } });
  const admin = platform.kafka.admin();
  await admin.connect();
  const ours = (await admin.listTopics()).filter((t) => t.startsWith(`${id}.`));
  await admin.deleteTopics({ topics: ours }).catch(() => undefined);
  await admin.disconnect();
  for (const prefix of prefixes) {
    const topics = prefixedTopics(prefix);
    for (const def of listEventDefinitions()) await platform.registry.deleteSubject(def.type as EventType, topics[def.domain]).catch(() => undefined);
  }
  await platform.close();
  await dropDatabase(databaseUrl);
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the TypeScript service (ESM, strict) compiled with its own tsc', () => {
  const tsc = (dir: string, args: string[]): Promise<Finished> => runNode(process.execPath, [path.join(dir, 'node_modules/typescript/bin/tsc'), ...args], { cwd: dir, env: childEnv() });

  it('compiles against the installed declarations, every @ts-expect-error line being a real error; the JavaScript service type-checks through JSDoc', async () => {
    const tsconfig = fs.readFileSync(path.join(authDir, 'tsconfig.json'), 'utf8');
    expect(tsconfig).toMatch(/"strict": true/);
    expect(tsconfig).toMatch(/"module": "nodenext"/);
    const expectations = fs.readFileSync(path.join(authDir, 'src/type-checks.ts'), 'utf8').match(/\/\/ @ts-expect-error/g) ?? [];
    expect(expectations.length).toBeGreaterThanOrEqual(5);

    const started = Date.now();
    // tsc fails on an unused @ts-expect-error directive: a success means each of those lines is an error.
    expectSuccess(await tsc(authDir, ['-p', 'tsconfig.json']), 'tsc of the auth service');
    compiled = true;
    expect(fs.existsSync(path.join(authDir, 'dist/main.js'))).toBe(true);
    console.log(`tsc of the auth service: ${seconds(started)}`);

    const checking = Date.now();
    expectSuccess(await tsc(paymentDir, ['-p', 'jsconfig.json']), 'tsc --checkJs of the payment service');
    console.log(`JSDoc check of the payment service: ${seconds(checking)}`);
  }, 180_000);

  it('fails to compile a wrong-shaped event without the directive, and a directive over a valid line', async () => {
    const lines = fs.readFileSync(path.join(authDir, 'src/type-checks.ts'), 'utf8').split('\n');
    const directive = lines.findIndex((l) => l.trim().startsWith('// @ts-expect-error'));
    const valid = lines.findIndex((l) => l.includes("outbox.enqueue(trx, 'USER_REGISTERED', registered)"));
    expect(directive).toBeGreaterThan(valid);
    expect(valid).toBeGreaterThan(0);
    // The valid line gets a directive (above it), the first wrong-shaped line loses its own.
    const edited = [...lines.slice(0, valid), '  // @ts-expect-error', ...lines.slice(valid, directive), ...lines.slice(directive + 1)];
    const wrongLine = directive + 2; // 1-based, shifted by the inserted line
    const unusedLine = valid + 1;
    expect(edited[wrongLine - 1]).toMatch(/withoutSignupMethod\);$/);

    const copy = path.join(authDir, 'wrong-shapes');
    fs.mkdirSync(copy);
    fs.writeFileSync(path.join(copy, 'type-checks.ts'), edited.join('\n'));
    fs.writeFileSync(path.join(copy, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', compilerOptions: { rootDir: '.', noEmit: true }, include: ['.'] }));

    const started = Date.now();
    const result = await tsc(authDir, ['-p', 'wrong-shapes/tsconfig.json', '--skipLibCheck']);
    console.log(`tsc of the wrong-shaped copy: ${seconds(started)}`);
    expect(result.code).not.toBe(0);
    const errors = [...result.stdout.matchAll(/type-checks\.ts\((\d+),\d+\): error (TS\d+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(errors.sort()).toEqual([`${unusedLine} TS2578`, `${wrongLine} TS2345`].sort());
    expect(result.stdout).toContain("Property 'signup_method' is missing");
  }, 120_000);
});

describe.each(declaredNodeLines.map((l) => [l.line]))('on Node %i, the services and the installed CLI', (line) => {
  it('publish, enqueue in the service transaction and deliver the four emails through the installed outbox relay and notification worker', async () => {
    if (!compiled) throw new Error('the auth service did not compile (see the test above)');
    const runtime = runtimes.find((r) => r.line === line);
    if (!runtime) throw new Error(`no runtime for Node ${line}`);
    const started = Date.now();
    const tag = `n${line}`;
    const prefix = `${id}.${tag}.`;
    const schema = `tidings_${tag}`;
    prefixes.push(prefix);
    const env = childEnv({
      KAFKA_BROKERS: base.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: base.schemaRegistryUrl,
      DATABASE_URL: databaseUrl,
      SMTP_URL: mail.url,
      TIDINGS_TOPIC_PREFIX: prefix,
      TIDINGS_DB_SCHEMA: schema,
      LOG_LEVEL: 'warn',
    });
    const cli = path.join(authDir, 'node_modules/.bin/tidings');
    const tidings = (args: string[]): Promise<Finished> => runNode(runtime.node, [cli, ...args], { cwd: authDir, env });
    const db = createDb(databaseUrl, { schema });
    const running: RunningProcess[] = [];
    try {
      expectSuccess(await tidings(['topics', 'create', '--partitions', '3']), 'tidings topics create');
      const registered = expectSuccess(await tidings(['schemas', 'register']), 'tidings schemas register');
      expect(registered.stdout.match(/^registered /gm)).toHaveLength(listEventDefinitions().length);

      // The JavaScript service: two charges of one customer through the typed payment producer.
      const payer = { id: `usr_${id}_${tag}_payer`, email: `payer.${id}.${tag}@example.com` };
      const published = expectSuccess(await runNode(runtime.node, ['publish.js', payer.id, payer.email], { cwd: paymentDir, env }), 'the payment service');
      // Its result lines; Tidings' logs share stdout with them, as a service's logs do (kafkajs
      // warns while a fresh broker's group coordinator is still loading, for one).
      const payments = published.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { charge?: string; status: string; eventId: string; topic: string })
        .filter((line) => line.charge !== undefined);
      expect(payments).toEqual([
        expect.objectContaining({ status: 'succeeded', topic: `${prefix}payment.events` }),
        expect.objectContaining({ status: 'failed', topic: `${prefix}payment.events` }),
      ]);

      // The TypeScript service: its start-up applies Tidings' migrations to this line's schema.
      const auth = startNode(runtime.node, ['dist/main.js'], { cwd: authDir, env: { ...env, PORT: '0', LOG_LEVEL: 'info', APP_URL } });
      running.push(auth);
      const listening = JSON.parse(await auth.line((l) => l.includes('"msg":"listening"'), 'the auth service listening')) as { url: string; tidingsMigrationsApplied: number };
      expect(listening.tidingsMigrationsApplied).toBe(MIGRATIONS.length);
      const call = jsonClient(() => listening.url);
      const user = { email: `new.user.${id}.${tag}@example.com`, name: 'Ada Lovelace', locale: 'en-GB' };
      const signup = await call('POST', '/signup', user);
      expect(signup.status).toBe(201);
      // The event is refused inside the transaction, so the user row goes with it.
      const refused = await call('POST', '/signup', { email: `refused.${id}.${tag}@example.com`, name: 'Refused', locale: 'not a locale!' });
      expect(refused).toEqual({ status: 422, body: expect.objectContaining({ field: 'recipient.locale' }) });
      expect(await db.withSchema('public').from('users').where({ email: `refused.${id}.${tag}@example.com` })).toEqual([]);
      expect((await call('POST', '/password-reset', { email: user.email })).status).toBe(202);
      const userId = signup.body.id as string;
      expect((await db('outbox').where({ message_key: userId }).orderBy('id')).map((r: { event_type: string }) => r.event_type)).toEqual(['USER_REGISTERED', 'PASSWORD_RESET_REQUESTED']);
      expect(await db('outbox').count('* as n').first()).toEqual({ n: '2' });

      // The CLI finds the schema the service migrated up to date.
      const migrated = expectSuccess(await tidings(['migrate', '--json']), 'tidings migrate');
      expect(JSON.parse(migrated.stdout)).toEqual({ schema, applied: [] });

      const relay = startNode(runtime.node, [cli, 'run', 'outbox-relay'], { cwd: authDir, env });
      const notification = startNode(runtime.node, [cli, 'run', 'notification', '--group-id', `${prefix}notification`], { cwd: authDir, env });
      running.push(relay, notification);
      const workers = { 'tidings run outbox-relay': relay, 'tidings run notification': notification };
      await whileRunning(mail.waitFor(() => mail.to(user.email).length >= 2 && mail.to(payer.email).length >= 2, 90_000), workers);
      const typesTo = (address: string): string[] => mail.to(address).map((m) => m.headers['x-tidings-event-type'] ?? '').sort();
      expect(typesTo(user.email)).toEqual(['PASSWORD_RESET_REQUESTED', 'USER_REGISTERED']);
      expect(typesTo(payer.email)).toEqual(['PAYMENT_FAILED', 'PAYMENT_SUCCEEDED']);
      expect(mail.to(user.email).find((m) => m.headers['x-tidings-event-type'] === 'PASSWORD_RESET_REQUESTED')?.text).toContain(`${APP_URL}/reset-password?token=`);

      const succeeded = payments[0]?.eventId;
      await whileRunning(
        waitFor('the receipt and the four sent-email ledger rows', async () => {
          const receipts = await db('receipts').where({ event_id: succeeded });
          const sent = await db('delivery_ledger').where({ channel: 'email', status: 'sent' });
          return receipts.length === 1 && sent.length === 4;
        }),
        workers,
      );
      expect((await db('receipts').where({ event_id: succeeded }))[0]).toMatchObject({ user_id: payer.id, amount_minor: '4200', currency: 'EUR' });
      expect(await db('outbox').whereNull('published_at').count('* as n').first()).toEqual({ n: '0' });

      const stopped = await Promise.all(running.splice(0).map((p) => p.stop()));
      for (const [i, name] of ['the auth service', 'tidings run outbox-relay', 'tidings run notification'].entries()) expectSuccess(stopped[i] as Finished, `${name} after SIGTERM`);
      // The installed CLI prints no Node warning on any line (kafkajs' negative timer included).
      for (const finished of [registered, migrated, ...stopped.slice(1)]) expect(finished.stderr).not.toMatch(/Warning/);
      console.log(`Node ${runtime.version}: services, CLI set-up, delivery of 4 emails and clean stop in ${seconds(started)}`);
    } finally {
      await Promise.all(running.map((p) => p.stop()));
      await db.destroy();
    }
  }, 120_000);
});
