import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { Knex } from 'knex';
import { ANALYTICS_GROUP, startAnalyticsConsumer, type AnalyticsConsumer } from '../../../consumers/analytics';
import { AUDIT_GROUP, startAuditConsumer, type AuditConsumer } from '../../../consumers/audit';
import { NOTIFICATION_GROUP, startNotificationConsumer, type NotificationConsumer } from '../../../consumers/notification';
import { SCHEDULER_GROUP, startScheduler, type Scheduler } from '../../../consumers/scheduler';
import { eventCounts, utcDay } from '../../analytics/event-counts';
import { UserTokens } from '../../api/auth/user-tokens';
import { startApiServer, type ApiServer } from '../../api/server';
import { verifyAuditChain } from '../../audit/audit-log';
import { paymentRetentionMs, readEnv } from '../../config/env';
import { createDb, ensureDatabase, migrateLatest } from '../../db/database';
import type { LocalFcm } from '../../dev/local-fcm';
import type { LocalTwilio } from '../../dev/local-twilio';
import { devModules } from '../dev-modules';
import { startWorkerEndpoints, type WorkerEndpoints } from '../worker-endpoints';
import { ConfigError } from '../../errors';
import { parsePort } from '../parse-options';
import { getEventDefinition, listEventDefinitions } from '../../events/catalog';
import type { EventType, TypedEvent } from '../../events/generated';
import { sampleStream, sampleUserIds, type SampleStreamOptions } from '../../events/samples';
import { eventTopicSpecs, ensureTopics } from '../../kafka/topics';
import { CHANNELS } from '../../notifications/channels/channel';
import { PreferenceStore } from '../../notifications/preferences';
import { DEVICE_PLATFORMS, DeviceTokens } from '../../notifications/providers/device-tokens';
import { formatTraceTree } from '../../observability/console-trace';
import { currentTelemetry } from '../../observability/telemetry-sdk';
import { Platform } from '../../platform';
import type { Publisher } from '../../producer/publisher';

interface DemoOptions {
  events: string;
  users: string;
  port: string;
  once?: boolean;
  realProviders?: boolean;
  otelConsole?: boolean;
  metricsPort?: string;
}

/** Dealt to the sample users in turn: French ones get the `fr` templates (fr-CA through its fallback to fr). */
const DEMO_LOCALES = ['en-US', 'fr-FR', 'en-GB', 'fr-CA'] as const;
/** The local Twilio API's sender: a number from the +1 555-01xx range kept for fiction. */
const LOCAL_SMS_SENDER = '+15555550100';
const BURST_TIMEOUT_MS = 120_000;
const STREAM_EVENTS_PER_SECOND = 5;
/** The demo's /metrics port unless --metrics-port says otherwise (the port OpenTelemetry's Prometheus exporter uses by default). */
const DEMO_METRICS_PORT = 9464;

/**
 * `npm start`: the whole platform locally with sample traffic. Brings the stack up, migrates,
 * registers schemas, creates topics, runs every consumer group (notification with email, SMS,
 * push and in-app; scheduler; audit; analytics) and the HTTP API, publishes a realistic burst
 * through the SDK and prints what each part did with it; then keeps a trickle going.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the platform locally with sample auth and payment traffic')
    .option('--events <n>', 'events in the first burst', '300')
    .option('--users <n>', 'distinct users in the sample traffic', '40')
    .option('--port <port>', 'port of the HTTP API (0 picks a free one)', '3000')
    .option('--metrics-port <port>', `port of /metrics, /healthz and /readyz (default ${DEMO_METRICS_PORT}, or a free one when that is taken)`)
    .option('--once', 'exit after the first burst is processed and summarised')
    .option('--otel-console', 'after the burst, print the OpenTelemetry trace of one event as a tree (spans kept in memory, no collector needed)')
    .option('--real-providers', 'send SMS and push through the TWILIO_* / FCM_* accounts set in the environment instead of local endpoints (the sample phone numbers and tokens are fictional, but real accounts would be charged)')
    .action(async (opts: DemoOptions) => runDemo(opts));
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const count = positiveInt(opts.events, '--events');
  const users = positiveInt(opts.users, '--users');
  const port = parsePort(opts.port);
  const started = Date.now();
  const say = (line: string): void => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);

  // The demo prints its own account of what runs: components log warnings and errors only, unless LOG_LEVEL says otherwise.
  process.env.LOG_LEVEL ??= 'warn';
  const { LocalStack } = devModules.stack();
  const stack = new LocalStack({ progress: say });
  await stack.up();

  // Ctrl-C stops everything the demo started (never the stack); a second one ends it at once.
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const platform = new Platform({ clientId: 'tidings-demo' });
  const running = new Running();
  running.add(() => platform.close());
  try {
    await prepare(platform, say);

    const local = await startLocalProviders(process.env, running, opts.realProviders === true);
    for (const line of describeChannels(local, platform.endpoints.smtpUrl)) say(`  ${line}`);

    const sample = await setUpSampleUsers(platform, users);
    say(`✓ ${users} sample users: locales ${DEMO_LOCALES.join(', ')}; ${sample.devices} with a push device; ${sample.smsOptIns.size} opted into SMS receipts`);

    const groups = await startGroups(platform, running);
    say(`✓ consumer groups running: ${Object.values(groups).map((g) => g.runtime.groupId).join(', ')}`);
    const api = await startApi(platform, port, running);
    say(`✓ HTTP API on ${api.url}`);
    const metrics = await startMetrics(platform, groups, opts.metricsPort, running);
    say(`✓ Prometheus metrics on ${metrics.url}/metrics (probes: /healthz, /readyz)`);

    const publisher = platform.createPublisher();
    running.add(() => publisher.disconnect());
    await publisher.connect();
    const streamOptions: SampleStreamOptions = { users, locales: DEMO_LOCALES };
    const burst = sampleStream(count, streamOptions);
    await publishAll(publisher, burst);
    say(`→ published ${burst.length} events: ${countByType(burst)}`);

    await waitForBurst(platform, burst, groups, interrupt.signal);
    if (interrupt.signal.aborted) return;
    say(`✓ the burst went through every consumer group:`);
    for (const line of await summarizeBurst(platform, burst, local)) say(`  ${line}`);
    const user = userToShow(burst, sample.smsOptIns);
    say(`  ${await apiCheck(api, user)}`);
    if (!process.env.SMTP_URL) say(`  mail saved in ${stack.mailDir}`);
    if (opts.otelConsole) for (const line of await traceOf(platform, burst, user, groups)) say(`  ${line}`);

    if (opts.once) return;
    say(`try the API (up until Ctrl-C):`);
    for (const path of [`/users/${user}/notifications`, `/users/${user}/preferences`, `/users/${user}/devices`]) say(`  curl -s -H "Authorization: Bearer ${api.userToken(user)}" ${api.url}${path}`);
    say(`  KEY=$(tidings apikeys create --scope read --name demo-$RANDOM); curl -s -H "Authorization: Bearer $KEY" ${api.url}/admin/users/${user}/receipts`);
    say(`streaming ${STREAM_EVENTS_PER_SECOND} events/s; Ctrl-C to stop (the stack keeps running: \`tidings dev down\` stops it)`);
    let streamed = 0;
    while (!interrupt.signal.aborted) {
      await publishAll(publisher, sampleStream(STREAM_EVENTS_PER_SECOND, streamOptions));
      streamed += STREAM_EVENTS_PER_SECOND;
      if (streamed % 50 === 0) say(`streamed ${streamed} more; ${streamProgress(groups.notification, local)}`);
      await sleep(1000, undefined, { signal: interrupt.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (interrupt.signal.aborted) say('stopping: consumer groups finish their chunk, then leave');
    await running.stopAll();
    say('✓ stopped everything the demo started');
  }
}

/** What the demo started, stopped in reverse order however the demo ends, so the process can exit. */
class Running {
  private readonly stops: Array<() => Promise<unknown>> = [];

  add(stop: () => Promise<unknown>): void {
    this.stops.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      await stop().catch((error: unknown) => console.error(`while stopping: ${error instanceof Error ? error.message : String(error)}`));
    }
  }
}

/** Migrations, schemas and topics: what `tidings migrate`, `schemas register` and `topics create` do. */
async function prepare(platform: Platform, say: (line: string) => void): Promise<void> {
  await ensureDatabase(platform.endpoints.databaseUrl);
  const migrationDb = createDb(platform.endpoints.databaseUrl, { schema: platform.endpoints.databaseSchema });
  const applied = await migrateLatest(migrationDb).finally(() => migrationDb.destroy());
  say(`✓ migrations: ${applied.length ? applied.join(', ') : 'up to date'}`);

  for (const def of listEventDefinitions()) await platform.registry.register(def.type as EventType, platform.topics[def.domain]);
  say(`✓ ${listEventDefinitions().length} schemas registered (BACKWARD)`);

  const admin = platform.kafka.admin();
  await admin.connect();
  const created = await ensureTopics(admin, eventTopicSpecs(platform.topics, undefined, paymentRetentionMs())).finally(() => admin.disconnect());
  say(`✓ topics: ${created.length ? `created ${created.join(', ')}` : 'exist'}`);
}

/** The local provider endpoints the demo started (none for a channel the environment configures). */
interface LocalEndpoints {
  twilio?: LocalTwilio;
  fcm?: LocalFcm;
}

/**
 * Points the settings production reads (TWILIO_*, FCM_SERVICE_ACCOUNT, FCM_BASE_URL) at a local
 * Twilio API and a local OAuth + FCM endpoint. The notification group then builds its
 * providers from the environment as `tidings run notification` does, and SMS and push run
 * through the real twilio and firebase-admin code. Accounts set in the environment are used
 * only with `--real-providers`, so a developer's credentials never text sample numbers by accident.
 */
async function startLocalProviders(env: NodeJS.ProcessEnv, running: Running, realProviders: boolean): Promise<LocalEndpoints> {
  const local: LocalEndpoints = {};
  if (!realProviders) {
    for (const name of Object.keys(env)) if (/^(TWILIO_|FCM_)/.test(name)) delete env[name];
  }
  if (!env.TWILIO_ACCOUNT_SID && !env.TWILIO_AUTH_TOKEN && !env.TWILIO_FROM) {
    const twilio = await devModules.localTwilio().LocalTwilio.start();
    running.add(() => twilio.close());
    Object.assign(env, { TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_AUTH_TOKEN: twilio.authToken, TWILIO_FROM: LOCAL_SMS_SENDER, TWILIO_BASE_URL: twilio.url });
    local.twilio = twilio;
  }
  if (!env.FCM_SERVICE_ACCOUNT) {
    const fcm = await devModules.localFcm().LocalFcm.start();
    running.add(() => fcm.close());
    Object.assign(env, { FCM_SERVICE_ACCOUNT: JSON.stringify(fcm.serviceAccount), FCM_BASE_URL: fcm.url });
    local.fcm = fcm;
  }
  // A malformed setting of the user's is named now, before anything else starts.
  readEnv(env);
  return local;
}

function describeChannels(local: LocalEndpoints, smtpUrl: string): string[] {
  // A channel whose settings are incomplete is disabled, with a warning from the providers, when the notification group starts.
  return [
    `email  → nodemailer → SMTP ${smtpUrl}`,
    local.twilio ? `sms    → twilio SDK → local Twilio API ${local.twilio.url}` : 'sms    → twilio SDK → your Twilio account (TWILIO_* from the environment)',
    local.fcm ? `push   → firebase-admin → local OAuth token + FCM v1 endpoint ${local.fcm.url}` : 'push   → firebase-admin → your Firebase project (FCM_SERVICE_ACCOUNT from the environment)',
    'in_app → PostgreSQL, read through the HTTP API',
  ];
}

/**
 * What real users would have set up: a push device for all but every fifth user (whose
 * security alerts then fall back to SMS) and, for every third user, the SMS receipts opt-in.
 * Tokens are named after the user, so a rerun updates the same rows.
 */
async function setUpSampleUsers(platform: Platform, users: number): Promise<{ devices: number; smsOptIns: Set<string> }> {
  const deviceTokens = new DeviceTokens(platform.db, platform.dataKeys);
  const preferences = new PreferenceStore(platform.db);
  const smsOptIns = new Set<string>();
  let devices = 0;
  for (const [i, user] of sampleUserIds(users).entries()) {
    if (i % 5 !== 4) {
      await deviceTokens.register(user, `demo-device-${user}`, DEVICE_PLATFORMS[i % DEVICE_PLATFORMS.length] ?? 'android');
      devices++;
    }
    if (i % 3 === 0) {
      await preferences.set(user, 'billing', 'sms', true);
      smsOptIns.add(user);
    }
  }
  return { devices, smsOptIns };
}

interface Groups {
  notification: NotificationConsumer;
  scheduler: Scheduler;
  audit: AuditConsumer;
  analytics: AnalyticsConsumer;
}

async function startGroups(platform: Platform, running: Running): Promise<Groups> {
  // A topic prefix is an environment of its own on a shared cluster: its groups get the prefix too.
  const groupId = (name: string): string => `${platform.endpoints.topicPrefix}${name}`;
  const started: Array<{ stop(): Promise<void> }> = [];
  // Stopped together: each group's stop waits for its fetch to end, so one after another would add up.
  running.add(() => Promise.all(started.map((g) => g.stop())));
  const track = async <T extends { stop(): Promise<void> }>(start: Promise<T>): Promise<T> => {
    const group = await start;
    started.push(group);
    return group;
  };
  // One at a time, each after the previous one has created its retry and dead-letter topics.
  const notification = await track(startNotificationConsumer(platform, { groupId: groupId(NOTIFICATION_GROUP) }));
  const scheduler = await track(startScheduler(platform, { groupId: groupId(SCHEDULER_GROUP) }));
  const audit = await track(startAuditConsumer(platform, { groupId: groupId(AUDIT_GROUP) }));
  const analytics = await track(startAnalyticsConsumer(platform, { groupId: groupId(ANALYTICS_GROUP) }));
  return { notification, scheduler, audit, analytics };
}

/** The consumer groups' metrics (lag included) and probes, as `tidings run --metrics-port` serves them. */
async function startMetrics(platform: Platform, groups: Groups, requested: string | undefined, running: Running): Promise<WorkerEndpoints> {
  const runtimes = Object.values(groups).map((g) => g.runtime);
  const start = (port: number): Promise<WorkerEndpoints> =>
    startWorkerEndpoints({ platform, port, portSetting: '--metrics-port', joined: () => runtimes.every((r) => r.joined), logger: platform.logger });
  // The usual port taken (another demo, an exporter): any free one will do, the line printed says which.
  const endpoints = await start(requested === undefined ? DEMO_METRICS_PORT : parsePort(requested, '--metrics-port')).catch((error: unknown) => {
    if (requested === undefined && error instanceof ConfigError) return start(0);
    throw error;
  });
  running.add(() => endpoints.close());
  endpoints.exportLag(runtimes.map((r) => r.groupId));
  return endpoints;
}

/** The demo's API, and the tokens of its sample users (what a real service's sign-in would hand to their apps). */
interface DemoApi extends ApiServer {
  userToken(userId: string): string;
}

async function startApi(platform: Platform, port: number, running: Running): Promise<DemoApi> {
  // TIDINGS_USER_TOKEN_SECRET if set; otherwise a secret for this run alone.
  const userTokenSecret = readEnv().TIDINGS_USER_TOKEN_SECRET ?? randomBytes(32).toString('hex');
  const api = await startApiServer({ db: platform.db, platform, userTokenSecret, port }).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EADDRINUSE' ? new ConfigError(`port ${port} is in use: pass --port <port> (0 picks a free one)`, error) : error;
  });
  running.add(() => api.close());
  const tokens = new UserTokens(userTokenSecret);
  return Object.assign(api, { userToken: (userId: string) => tokens.issue(userId) });
}

async function publishAll(publisher: Publisher, events: TypedEvent[]): Promise<void> {
  await Promise.all(events.map((e) => publisher.publish(e.type, e.event)));
}

async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const row = (await query.count({ n: '*' }).first()) as { n: string | number } | undefined;
  return Number(row?.n ?? 0);
}

/** Resolves once every group has taken in the whole burst and no notification is still pending (or on Ctrl-C). */
async function waitForBurst(platform: Platform, burst: TypedEvent[], groups: Groups, signal: AbortSignal): Promise<void> {
  const { db } = platform;
  const ids = burst.map((e) => e.event.event_id);
  const payments = burst.filter((e) => getEventDefinition(e.type).domain === 'payment').length;
  const inbox = (group: { runtime: { groupId: string } }): Promise<number> => countOf(db('inbox').where({ consumer_group: group.runtime.groupId }).whereIn('event_id', ids));
  let progress = 'nothing read yet';
  const { waitUntil } = devModules.backgroundProcess();
  await waitUntil(
    'processing of the first burst',
    async () => {
      if (signal.aborted) return true;
      const [notified, pending, audited, counted, scheduled] = await Promise.all([
        inbox(groups.notification),
        countOf(db('delivery_ledger').whereIn('event_id', ids).whereIn('status', ['pending', 'sending'])),
        countOf(db('audit_log').whereIn('event_id', ids)),
        inbox(groups.analytics),
        inbox(groups.scheduler),
      ]);
      progress = `notification ${notified}/${ids.length} (${pending} pending or sending), audit ${audited}/${ids.length}, analytics ${counted}/${ids.length}, scheduler ${scheduled}/${payments}`;
      return notified === ids.length && pending === 0 && audited === ids.length && counted === ids.length && scheduled === payments;
    },
    { timeoutMs: BURST_TIMEOUT_MS, describeFailure: () => progress },
  );
}

/** One line per fact about what the platform did with the burst, read back from PostgreSQL and the local endpoints. */
async function summarizeBurst(platform: Platform, burst: TypedEvent[], local: LocalEndpoints): Promise<string[]> {
  const { db } = platform;
  const ids = burst.map((e) => e.event.event_id);
  const lines: string[] = [];

  const ledger = (await db('delivery_ledger').whereIn('event_id', ids).select('channel', 'status', 'reason').count({ n: '*' }).groupBy('channel', 'status', 'reason')) as Array<{
    channel: string;
    status: string;
    reason: string | null;
    n: string;
  }>;
  for (const channel of CHANNELS) {
    const rows = ledger.filter((r) => r.channel === channel);
    const status = (name: string): string => {
      const matching = rows.filter((r) => r.status === name);
      const total = matching.reduce((sum, r) => sum + Number(r.n), 0);
      const reasons = matching.filter((r) => r.reason).map((r) => `${r.reason} ${r.n}`);
      return `${name} ${total}${reasons.length && name !== 'sent' ? ` (${reasons.join(', ')})` : ''}`;
    };
    lines.push(`${channel.padEnd(6)} ${['sent', 'suppressed', 'failed', 'deferred'].map(status).join(' · ')}`);
  }

  const locales = (await db('delivery_ledger')
    .whereIn('event_id', ids)
    .andWhere({ channel: 'email', status: 'sent' })
    .select(db.raw(`split_part(template_version, '-', 1) AS locale`))
    .count({ n: '*' })
    .groupByRaw('1')
    .orderBy('locale')) as Array<{ locale: string; n: string }>;
  lines.push(`emails by template locale: ${locales.map((l) => `${l.locale} ${l.n}`).join(' · ') || 'none'}`);
  if (local.twilio) lines.push(`SMS received by the local Twilio API: ${local.twilio.messages.length}`);
  if (local.fcm) lines.push(`pushes received by the local FCM endpoint: ${local.fcm.messages.length} (after ${local.fcm.tokenGrants.length} OAuth token exchange${local.fcm.tokenGrants.length === 1 ? '' : 's'})`);
  lines.push(`in-app notifications stored: ${await countOf(db('in_app_notifications').whereIn('event_id', ids))}`);

  const paid = burst.filter((e) => e.type === 'PAYMENT_SUCCEEDED').length;
  const [receipts, legalReceipts, invoices] = await Promise.all([
    countOf(db('receipts').whereIn('event_id', ids)),
    countOf(db('legal_records').whereIn('event_id', ids).andWhere({ kind: 'receipt' })),
    countOf(db('legal_records').whereIn('event_id', ids).andWhere({ kind: 'invoice' })),
  ]);
  lines.push(`receipts stored: ${receipts} for ${paid} PAYMENT_SUCCEEDED published; legal records: ${legalReceipts} receipts, ${invoices} invoices`);

  const [audited, chain] = await Promise.all([countOf(db('audit_log').whereIn('event_id', ids)), verifyAuditChain(db)]);
  lines.push(`audit log: ${audited} of ${ids.length} events appended; hash chain ${chain.ok ? `verified (${chain.rows} rows)` : `BROKEN at row ${chain.firstBrokenId}`}`);

  const today = utcDay(Date.now());
  const counters = await eventCounts(db, { from: today, to: today });
  const byDomain = new Map<string, number>();
  for (const c of counters) byDomain.set(c.domain, (byDomain.get(c.domain) ?? 0) + c.count);
  lines.push(`analytics counters for ${today} (every run): ${[...byDomain].map(([domain, n]) => `${domain} ${n}`).join(' · ') || 'none'}`);

  const [reminders, digestEntries] = await Promise.all([
    countOf(db('renewal_reminders').whereIn('source_event_id', ids)),
    countOf(db('digest_entries').whereIn('event_id', ids)),
  ]);
  lines.push(`scheduler: ${reminders} renewal reminders and ${digestEntries} daily-digest entries scheduled (emailed when due)`);
  return lines;
}

/** A user to show in the API examples: a payer who opted into SMS receipts, if the burst has one. */
function userToShow(burst: TypedEvent[], smsOptIns: Set<string>): string {
  const payers = burst.filter((e) => e.type === 'PAYMENT_SUCCEEDED').map((e) => e.event.user_id);
  return payers.find((u) => smsOptIns.has(u)) ?? payers[0] ?? burst[0]?.event.user_id ?? 'usr_000001';
}

/**
 * `--otel-console`: the trace of one of `user`'s payments (else the burst's first event) from
 * the spans this process kept, once every group's process span of it has ended.
 */
async function traceOf(platform: Platform, burst: TypedEvent[], user: string, groups: Groups): Promise<string[]> {
  const capture = currentTelemetry()?.capture;
  const shown = burst.find((e) => e.type === 'PAYMENT_SUCCEEDED' && e.event.user_id === user) ?? burst[0];
  if (!capture || !shown) return ['no trace recorded'];
  const { event } = shown;
  const topic = platform.topics[getEventDefinition(shown.type).domain];
  const readers = Object.values(groups).filter((g) => g.runtime.topology.sources.includes(topic)).length;
  let spans: ReturnType<typeof capture.trace> = [];
  const { waitUntil } = devModules.backgroundProcess();
  const complete = async (): Promise<boolean> => {
    const traceId = capture.traceOfEvent(event.event_id);
    spans = traceId ? capture.trace(traceId) : [];
    return spans.filter((s) => s.name.startsWith('process ')).length >= readers;
  };
  // A group's process span ends just after its chunk's commit, which the summary may have overtaken.
  await waitUntil('the trace of one event', complete, { timeoutMs: 10_000, intervalMs: 50 }).catch(() => undefined);
  return [`trace ${spans[0]?.spanContext().traceId ?? '(none)'} of ${event.event_id}:`, ...formatTraceTree(spans)];
}

/** Asks the running API what a user sees, so the summary shows the API answering. */
async function apiCheck(api: DemoApi, user: string): Promise<string> {
  const path = `/users/${user}/notifications/unread-count`;
  const response = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.userToken(user)}` } });
  const body = (await response.json()) as { unread?: number };
  return `API: GET ${path} → ${response.status}, ${body.unread ?? '?'} unread in-app notifications`;
}

function streamProgress(notification: NotificationConsumer, local: LocalEndpoints): string {
  const { sent, suppressed, failed, deferred } = notification.handler.stats;
  const endpoints = [local.twilio && `${local.twilio.messages.length} SMS`, local.fcm && `${local.fcm.messages.length} pushes`].filter(Boolean);
  return `notifications ${sent} sent · ${suppressed} suppressed · ${failed} failed · ${deferred} deferred${endpoints.length ? `; local endpoints received ${endpoints.join(', ')}` : ''}`;
}

function countByType(events: TypedEvent[]): string {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(', ');
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${flag} must be a positive integer (got "${value}")`);
  return n;
}

