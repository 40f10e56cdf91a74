import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import { resolveEmailTemplatesDir } from '../../src/notifications/email/render';
import { SmtpMailer } from '../../src/notifications/email/smtp-mailer';
import type { Platform } from '../../src/platform';
import { systemClock, type Clock } from '../../src/scheduler/clock';
import { DailyDigestJobs } from '../../src/scheduler/daily-digests';
import { defaultInstanceId, Dispatcher } from '../../src/scheduler/dispatcher';
import { schedulerSettings, type SchedulerSettingsInput } from '../../src/scheduler/options';
import { RenewalReminderJobs } from '../../src/scheduler/renewal-reminders';
import { ScheduledEmailRenderer } from '../../src/scheduler/scheduled-email';
import { SchedulerHandler } from '../../src/scheduler/scheduler-handler';

export const SCHEDULER_GROUP = 'tidings.scheduler';

export interface SchedulerOptions extends SchedulerSettingsInput {
  groupId?: string;
  /** The time every due decision reads. Default the system clock; tests inject a manual one. */
  clock?: Clock;
  /** Recorded on claimed rows. Default host:pid:random. */
  instanceId?: string;
  chunkSize?: number;
  /** Delay of each retry tier; default 10 s, 1 min, 10 min, 1 h. */
  retryDelaysMs?: readonly number[];
  outageBackoff?: { initialMs: number; maxMs: number };
  sessionTimeoutMs?: number;
  /** Email templates directory; default `TIDINGS_EMAIL_TEMPLATES`, else the bundled templates. */
  emailTemplatesDir?: string;
}

export interface Scheduler {
  runtime: ConsumerRuntime;
  dispatcher: Dispatcher;
  stop(): Promise<void>;
}

/**
 * The scheduler: a consumer group on payment.events that turns events into renewal
 * reminders and daily digest entries (exactly once, through the inbox), plus a dispatcher
 * that sends them when they fall due. Run more instances to scale: partitions are shared
 * and due rows are claimed with SKIP LOCKED, so each email goes out once.
 */
export async function startScheduler(platform: Platform, options: SchedulerOptions = {}): Promise<Scheduler> {
  const { groupId, clock = systemClock, instanceId = defaultInstanceId(), chunkSize, retryDelaysMs, outageBackoff, sessionTimeoutMs, emailTemplatesDir, ...tuning } = options;
  const settings = schedulerSettings({ ...tuning, outageBackoff });
  const mailer = new SmtpMailer({ url: platform.endpoints.smtpUrl, from: platform.endpoints.mailFrom });
  const renderer = new ScheduledEmailRenderer(resolveEmailTemplatesDir(emailTemplatesDir));
  const dispatcher = new Dispatcher({
    db: platform.db,
    mailer,
    clock,
    settings,
    instanceId,
    jobs: [new RenewalReminderJobs(platform.db, renderer, instanceId), new DailyDigestJobs(platform.db, renderer, instanceId)],
  });
  const handler = new SchedulerHandler({
    clock,
    reminderLeadDays: settings.reminderLeadDays,
    digestHour: settings.digestHour,
    onDueNow: () => dispatcher.wake(),
  });
  const runtime = new ConsumerRuntime({
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    groupId: groupId ?? SCHEDULER_GROUP,
    name: 'scheduler',
    topics: [platform.topics.payment],
    // A cancellation must not overtake the creation it cancels while the creation is retried.
    orderedTopics: [platform.topics.payment],
    retryDelaysMs,
    outageBackoff,
    sessionTimeoutMs,
    handler,
    chunkSize,
  });
  await runtime.start();
  dispatcher.start();
  return {
    runtime,
    dispatcher,
    async stop() {
      await dispatcher.stop();
      await runtime.stop();
      mailer.close();
    },
  };
}
