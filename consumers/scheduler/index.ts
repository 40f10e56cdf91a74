import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import { readEnv } from '../../src/config/env';
import { resolveEmailTemplatesDir } from '../../src/notifications/email/render';
import type { FailoverProvider } from '../../src/notifications/providers/failover';
import { createEmailChannel } from '../../src/notifications/providers/providers-from-env';
import { createLogger } from '../../src/observability/logger';
import type { Platform } from '../../src/platform';
import { DailyDigestJobs } from '../../src/scheduler/daily-digests';
import { Dispatcher } from '../../src/scheduler/dispatcher';
import { schedulerSettings, type SchedulerOptions } from '../../src/scheduler/options';
import { RenewalReminderJobs } from '../../src/scheduler/renewal-reminders';
import { ScheduledEmailRenderer } from '../../src/scheduler/scheduled-email';
import { SchedulerHandler } from '../../src/scheduler/scheduler-handler';

export { SCHEDULER_GROUP, type SchedulerOptions } from '../../src/scheduler/options';

export interface Scheduler {
  runtime: ConsumerRuntime;
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

/**
 * The scheduler: a consumer group on payment.events that turns events into renewal
 * reminders and daily digest entries (exactly once, through the inbox), plus a dispatcher
 * that sends them when they fall due, through the same email channel as event notifications.
 * Run more instances to scale: partitions are shared and due rows are claimed with SKIP
 * LOCKED, so each email goes out once. A bad option is refused here, before anything connects.
 */
export async function startScheduler(platform: Platform, options: SchedulerOptions = {}): Promise<Scheduler> {
  const scheduler = buildScheduler(platform, options);
  await scheduler.runtime.start();
  scheduler.dispatcher.start();
  return scheduler;
}

/** The scheduler built as `startScheduler` builds it, not started (`tidings replay` runs its runtime outside the group). */
export function buildScheduler(platform: Platform, options: SchedulerOptions = {}): Scheduler {
  const settings = schedulerSettings(options);
  const { clock, instanceId } = settings;
  const logger = settings.logger ?? createLogger('scheduler');
  const handler = new SchedulerHandler({
    clock,
    reminderLeadDays: settings.reminderLeadDays,
    digestHour: settings.digestHour,
    onDueNow: () => dispatcher.wake(),
    logger: logger.child({ component: 'handler' }),
    dataKeys: platform.dataKeys,
  });
  // Built (and its options checked) before the email channel, which would need closing.
  const runtime = new ConsumerRuntime({
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    dataKeys: platform.dataKeys,
    groupId: settings.groupId,
    name: 'scheduler',
    topics: [platform.topics.payment],
    // A cancellation must not overtake the creation it cancels while the creation is retried.
    orderedTopics: [platform.topics.payment],
    retryDelaysMs: settings.retryDelaysMs,
    outageBackoff: settings.outageBackoff,
    sessionTimeoutMs: settings.sessionTimeoutMs,
    handler,
    chunkSize: settings.chunkSize,
    logger: logger.child({ component: 'runtime' }),
  });
  const renderer = new ScheduledEmailRenderer(resolveEmailTemplatesDir(settings.emailTemplatesDir));
  let email = settings.email;
  let ownEmail: FailoverProvider | undefined;
  // As the notification consumer builds it: credentials from the environment, the SMTP server the platform's.
  if (!email) email = ownEmail = createEmailChannel({ env: { ...readEnv(), SMTP_URL: platform.endpoints.smtpUrl, MAIL_FROM: platform.endpoints.mailFrom }, logger: logger.child({ component: 'email' }) });
  const dispatcher = new Dispatcher({
    db: platform.db,
    email,
    clock,
    settings,
    instanceId,
    logger: logger.child({ component: 'dispatcher' }),
    jobs: [new RenewalReminderJobs(platform.db, renderer, instanceId, platform.dataKeys), new DailyDigestJobs(platform.db, renderer, instanceId, platform.dataKeys)],
  });
  return {
    runtime,
    dispatcher,
    async stop() {
      await dispatcher.stop();
      await runtime.stop();
      await ownEmail?.close();
    },
  };
}
