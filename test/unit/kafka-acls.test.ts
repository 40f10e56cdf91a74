import { AclOperationTypes, AclResourceTypes, ResourcePatternTypes, type AclEntry } from 'kafkajs';
import { NOTIFICATION_GROUP } from '../../consumers/notification';
import { DEFAULT_RETRY_DELAYS_MS, dlqTopic, retryTopics, type RetryTopology } from '../../src/consumer/retry-topology';
import { aclsFor } from '../../src/dev/kafka-security';
import { DEV_NOTIFICATION_GROUP } from '../../src/dev/stack';
import { prefixedTopics } from '../../src/kafka/topics';

const topics = prefixedTopics('staging.');
const acls = aclsFor({ topics, notificationGroupId: 'staging.notification' });
const notification: RetryTopology = { name: 'notification', sources: [topics.auth, topics.payment], delaysMs: DEFAULT_RETRY_DELAYS_MS };

/** Whether the ACLs let `user` do `operation` on the topic or group `name` (literal or prefixed match, as the broker matches). */
function allows(user: string, resourceType: AclResourceTypes, name: string, operation: AclOperationTypes): boolean {
  const matches = (a: AclEntry): boolean =>
    a.resourceType === resourceType &&
    (a.resourcePatternType === ResourcePatternTypes.LITERAL ? a.resourceName === name : name.startsWith(a.resourceName)) &&
    // READ and WRITE imply DESCRIBE.
    (a.operation === operation || (operation === AclOperationTypes.DESCRIBE && [AclOperationTypes.READ, AclOperationTypes.WRITE].includes(a.operation)));
  return acls.some((a) => a.principal === `User:${user}` && matches(a));
}

const { TOPIC, GROUP } = AclResourceTypes;
const { READ, WRITE, CREATE } = AclOperationTypes;

describe('ACLs of the local SASL_SSL broker', () => {
  it('lets each producer write its own topic only', () => {
    expect(allows('auth-producer', TOPIC, topics.auth, WRITE)).toBe(true);
    expect(allows('auth-producer', TOPIC, topics.payment, WRITE)).toBe(false);
    expect(allows('payment-producer', TOPIC, topics.payment, WRITE)).toBe(true);
    expect(allows('payment-producer', TOPIC, topics.auth, WRITE)).toBe(false);
    expect(acls.filter((a) => a.principal !== 'User:notification').every((a) => a.operation === WRITE && a.resourceType === TOPIC)).toBe(true);
  });

  it('lets the notification group read its sources and retry tiers, and write and create only its own tiers and DLQs', () => {
    for (const source of notification.sources) {
      expect(allows('notification', TOPIC, source, READ)).toBe(true);
      expect(allows('notification', TOPIC, source, WRITE)).toBe(false);
      expect(allows('notification', TOPIC, dlqTopic(notification, source), WRITE)).toBe(true);
      expect(allows('notification', TOPIC, dlqTopic(notification, source), CREATE)).toBe(true);
      expect(allows('notification', TOPIC, dlqTopic(notification, source), READ)).toBe(false);
      // Another group's tiers and DLQ are not its own.
      expect(allows('notification', TOPIC, `${source}.audit.dlq`, WRITE)).toBe(false);
      expect(allows('notification', TOPIC, `${source}.audit.retry.1`, WRITE)).toBe(false);
    }
    for (const tier of retryTopics(notification)) {
      expect(allows('notification', TOPIC, tier, READ)).toBe(true);
      expect(allows('notification', TOPIC, tier, WRITE)).toBe(true);
      expect(allows('notification', TOPIC, tier, CREATE)).toBe(true);
    }
    expect(allows('notification', GROUP, 'staging.notification', READ)).toBe(true);
    expect(allows('notification', GROUP, 'staging.notification.retry', READ)).toBe(true);
    expect(allows('notification', GROUP, 'staging.audit', READ)).toBe(false);
  });

  it('names the notification group by its default id', () => {
    expect(DEV_NOTIFICATION_GROUP).toBe(NOTIFICATION_GROUP);
  });
});
