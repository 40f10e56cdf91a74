import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import { readEnv } from '../../src/config/env';
import { InAppChannel } from '../../src/in-app/in-app-channel';
import type { ChannelName } from '../../src/notifications/channels/channel';
import { DeferredDispatcher, type DeferredDispatcherSettings } from '../../src/notifications/deferred-dispatcher';
import { emailRendererFor, resolveEmailTemplatesDir } from '../../src/notifications/email/render';
import type { ChannelSender } from '../../src/notifications/channels/channel-sender';
import { NotificationHandler, type NotificationHandlerSettings } from '../../src/notifications/notification-handler';
import { PreferenceStore } from '../../src/notifications/preferences';
import { DeviceTokens } from '../../src/notifications/providers/device-tokens';
import { createProvidersFromEnv } from '../../src/notifications/providers/providers-from-env';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimits } from '../../src/notifications/rate-limiter';
import { laneAccepts, type LaneName } from '../../src/notifications/routing';
import type { Platform } from '../../src/platform';

export const NOTIFICATION_GROUP = 'tidings.notification';

/** Group id and topic-name suffix of each lane; `all` is the single-group deployment. */
const LANES: Record<LaneName, { groupSuffix: string; name: string; handlesMalformed: boolean }> = {
  all: { groupSuffix: '', name: 'notification', handlesMalformed: true },
  priority: { groupSuffix: '.priority', name: 'notification-priority', handlesMalformed: false },
  bulk: { groupSuffix: '.bulk', name: 'notification-bulk', handlesMalformed: true },
};

export interface NotificationConsumerOptions {
  /**
   * `priority`: payment confirmations and security alerts only; `bulk`: everything else;
   * `all` (default): one group for everything. Run a priority and a bulk instance side by
   * side so a backlog of bulk traffic never delays a payment confirmation.
   */
  lane?: LaneName;
  /** Default `tidings.notification` plus `.priority` / `.bulk` for a lane. */
  groupId?: string;
  chunkSize?: number;
  /** Partitions an instance works on at the same time (see ConsumerRuntimeOptions.partitionsConcurrency). Default 1. */
  partitionsConcurrency?: number;
  /** Delay of each retry tier; default 10 s, 1 min, 10 min, 1 h. */
  retryDelaysMs?: readonly number[];
  outageBackoff?: { initialMs: number; maxMs: number };
  sessionTimeoutMs?: number;
  /** A key hold older than this is released (see ConsumerRuntimeOptions.maxHoldAgeMs). */
  maxHoldAgeMs?: number;
  /** Channel senders; default: providers from the environment (SMTP at the platform's SMTP URL, Twilio, FCM) plus in-app. */
  channels?: Partial<Record<ChannelName, ChannelSender>>;
  rateLimits?: RateLimits;
  clock?: () => Date;
  /** Email templates directory; default `TIDINGS_EMAIL_TEMPLATES`, else the bundled templates. */
  emailTemplatesDir?: string;
  /** Send concurrency, claim lease… of the notification handler (defaults in NotificationHandler). */
  delivery?: Omit<NotificationHandlerSettings, 'messageDomain'>;
  /** Poll interval, batch size, lease of the quiet-hours dispatcher. */
  deferred?: DeferredDispatcherSettings;
}

export interface NotificationConsumer {
  runtime: ConsumerRuntime;
  handler: NotificationHandler;
  deferred: DeferredDispatcher;
  stop(): Promise<void>;
}

/**
 * The notification consumer group: reads auth and payment events, records each once,
 * stores receipts and sends email. Run more instances to scale; partitions are shared.
 */
export async function startNotificationConsumer(platform: Platform, options: NotificationConsumerOptions = {}): Promise<NotificationConsumer> {
  const consumer = buildNotificationConsumer(platform, options);
  await consumer.runtime.start();
  consumer.deferred.start();
  return consumer;
}

/**
 * The notification group built as `startNotificationConsumer` builds it, not started:
 * `tidings replay` runs its runtime outside the group. `stop()` closes what it opened.
 */
export function buildNotificationConsumer(platform: Platform, options: NotificationConsumerOptions = {}): NotificationConsumer {
  // A broken template set stops the start, before any event is read.
  const emailRenderer = emailRendererFor(resolveEmailTemplatesDir(options.emailTemplatesDir));
  const deviceTokens = new DeviceTokens(platform.db, platform.dataKeys);
  // Provider credentials come from the environment; the SMTP server is the platform's.
  const fromEnv = options.channels ? undefined : createProvidersFromEnv({ env: { ...readEnv(), SMTP_URL: platform.endpoints.smtpUrl }, deviceTokens });
  const channels: Partial<Record<ChannelName, ChannelSender>> = options.channels ?? {
    ...fromEnv?.channels,
    in_app: new InAppChannel({ db: platform.db, dataKeys: platform.dataKeys }),
  };
  const handler = new NotificationHandler({
    ...options.delivery,
    db: platform.db,
    channels,
    emailRenderer,
    preferences: new PreferenceStore(platform.db),
    rateLimiter: new RateLimiter({ db: platform.db, limits: options.rateLimits ?? DEFAULT_RATE_LIMITS }),
    messageDomain: /@([A-Za-z0-9.-]+)/.exec(platform.endpoints.mailFrom)?.[1],
    clock: options.clock,
    dataKeys: platform.dataKeys,
  });
  const laneName = options.lane ?? 'all';
  const lane = LANES[laneName];
  const runtime = new ConsumerRuntime({
    kafka: platform.kafka,
    db: platform.db,
    registry: platform.registry,
    dataKeys: platform.dataKeys,
    groupId: options.groupId ?? `${NOTIFICATION_GROUP}${lane.groupSuffix}`,
    name: lane.name,
    lane: laneName === 'all' ? undefined : { accepts: (type) => laneAccepts(laneName, type), handlesMalformed: lane.handlesMalformed },
    topics: [platform.topics.auth, platform.topics.payment],
    // A user's payment notifications go out in order even when one of them is being retried.
    orderedTopics: [platform.topics.payment],
    retryDelaysMs: options.retryDelaysMs,
    outageBackoff: options.outageBackoff,
    sessionTimeoutMs: options.sessionTimeoutMs,
    maxHoldAgeMs: options.maxHoldAgeMs,
    handler,
    chunkSize: options.chunkSize,
    partitionsConcurrency: options.partitionsConcurrency,
  });
  // Messages held back by quiet hours go out when the hours are over.
  const deferred = new DeferredDispatcher({ ...options.deferred, db: platform.db, channels, clock: options.clock, dataKeys: platform.dataKeys });
  return {
    runtime,
    handler,
    deferred,
    async stop() {
      // First end every wait and ledger retry in delivery, so the chunk in progress ends
      // promptly even during a database outage (its unrecorded sends stay claimed until the lease ends).
      handler.close();
      await deferred.stop();
      await runtime.stop();
      await fromEnv?.close();
    },
  };
}
