import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import { SmtpMailer } from '../../src/notifications/email/smtp-mailer';
import { NotificationHandler } from '../../src/notifications/notification-handler';
import type { Platform } from '../../src/platform';

export const NOTIFICATION_GROUP = 'tidings.notification';

export interface NotificationConsumerOptions {
  groupId?: string;
  chunkSize?: number;
  /** Delay of each retry tier; default 10 s, 1 min, 10 min, 1 h. */
  retryDelaysMs?: readonly number[];
  outageBackoff?: { initialMs: number; maxMs: number };
  sessionTimeoutMs?: number;
}

export interface NotificationConsumer {
  runtime: ConsumerRuntime;
  handler: NotificationHandler;
  stop(): Promise<void>;
}

/**
 * The notification consumer group: reads auth and payment events, records each once,
 * stores receipts and sends email. Run more instances to scale; partitions are shared.
 */
export async function startNotificationConsumer(platform: Platform, options: NotificationConsumerOptions = {}): Promise<NotificationConsumer> {
  const mailer = new SmtpMailer({ url: platform.endpoints.smtpUrl, from: platform.endpoints.mailFrom });
  const handler = new NotificationHandler({ db: platform.db, mailer });
  const runtime = new ConsumerRuntime({
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    groupId: options.groupId ?? NOTIFICATION_GROUP,
    name: 'notification',
    topics: [platform.topics.auth, platform.topics.payment],
    // A user's payment notifications go out in order even when one of them is being retried.
    orderedTopics: [platform.topics.payment],
    retryDelaysMs: options.retryDelaysMs,
    outageBackoff: options.outageBackoff,
    sessionTimeoutMs: options.sessionTimeoutMs,
    handler,
    chunkSize: options.chunkSize,
  });
  await runtime.start();
  return {
    runtime,
    handler,
    async stop() {
      await runtime.stop();
      mailer.close();
    },
  };
}
