import { buildAnalyticsConsumer } from '../../../consumers/analytics';
import { buildAuditConsumer } from '../../../consumers/audit';
import { buildNotificationConsumer } from '../../../consumers/notification';
import { buildScheduler } from '../../../consumers/scheduler';
import type { ConsumerRuntime } from '../../consumer/consumer-runtime';
import type { NotificationHandler } from '../../notifications/notification-handler';
import type { Platform } from '../../platform';
import type { ReplayGroupName, ReplayRequest } from './replay-request';

/** A consumer group built as `tidings run` builds it, not started: a replay runs its runtime outside the group. */
export interface ReplayGroup {
  runtime: ConsumerRuntime;
  /** The notification group's handler (plans and sends notifications), for --resend. */
  notifications?: NotificationHandler;
  stop(): Promise<void>;
}

const BUILDERS: Record<ReplayGroupName, (platform: Platform, request: ReplayRequest) => ReplayGroup> = {
  notification: (platform, r) => {
    const consumer = buildNotificationConsumer(platform, { groupId: r.groupId, lane: r.lane, retryDelaysMs: r.retryDelaysMs });
    return { runtime: consumer.runtime, notifications: consumer.handler, stop: () => consumer.stop() };
  },
  audit: (platform, r) => buildAuditConsumer(platform, { groupId: r.groupId }),
  analytics: (platform, r) => buildAnalyticsConsumer(platform, { groupId: r.groupId }),
  scheduler: (platform, r) => {
    const scheduler = buildScheduler(platform, { groupId: r.groupId, retryDelaysMs: r.retryDelaysMs });
    return { runtime: scheduler.runtime, stop: () => scheduler.stop() };
  },
};

export function buildReplayGroup(platform: Platform, name: ReplayGroupName, request: ReplayRequest): ReplayGroup {
  return BUILDERS[name](platform, request);
}
