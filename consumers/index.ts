/**
 * `tidings/consumers`: what a platform team needs to run Tidings' consumer groups from its
 * own code instead of `tidings run <group>`. Each `start…` takes a Platform and returns
 * something to `stop()` on shutdown.
 */
export { NOTIFICATION_GROUP, startNotificationConsumer, type NotificationConsumer, type NotificationConsumerOptions } from './notification';
export { startOutboxRelay, type OutboxRelayStartOptions } from './outbox-relay';
export { AUDIT_GROUP, startAuditConsumer, type AuditConsumer, type AuditConsumerOptions } from './audit';
export { ANALYTICS_GROUP, startAnalyticsConsumer, type AnalyticsConsumer, type AnalyticsConsumerOptions } from './analytics';
export { SCHEDULER_GROUP, startScheduler, type Scheduler, type SchedulerOptions } from './scheduler';
export { DLQ_INDEX_GROUP, startDeadLetterIndex, type DeadLetterIndex, type DeadLetterIndexOptions } from './dlq-index';
