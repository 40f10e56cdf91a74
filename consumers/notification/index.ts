import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import { SmtpMailer } from '../../src/notifications/email/smtp-mailer';
import { NotificationHandler } from '../../src/notifications/notification-handler';
import type { Platform } from '../../src/platform';

export const NOTIFICATION_GROUP = 'tidings.notification';

export interface NotificationConsumerOptions {
  groupId?: string;
  chunkSize?: number;
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
    topics: [platform.topics.auth, platform.topics.payment],
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
