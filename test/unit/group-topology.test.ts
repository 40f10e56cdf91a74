import { findGroupTopology } from '../../src/ops/inspect/group-topology';

const sources = ['payment.events', 'auth.events'];
/** The topics of a deployment with the notification lanes, audit, and the DLQ index over the notification DLQs. */
const topics = new Set([
  ...sources,
  ...['notification', 'notification-priority', 'notification-bulk', 'audit'].flatMap((name) =>
    sources.flatMap((s) => [`${s}.${name}.retry.1`, `${s}.${name}.retry.2`, `${s}.${name}.dlq`]),
  ),
  'payment.events.notification.dlq.dlq-index.retry.1',
  'payment.events.notification.dlq.dlq-index.dlq',
]);

describe('lag: finding the retry tiers and DLQs of a group', () => {
  it('reads the runtime name from the topics its retry group committed to', () => {
    const found = findGroupTopology('custom-group-id', sources, topics, ['payment.events.notification-bulk.retry.2']);
    expect(found.name).toBe('notification-bulk');
    expect(found.tiers.map((t) => t.topic)).toEqual([
      'payment.events.notification-bulk.retry.1',
      'payment.events.notification-bulk.retry.2',
      'auth.events.notification-bulk.retry.1',
      'auth.events.notification-bulk.retry.2',
    ]);
    expect(found.dlqs).toEqual([
      { source: 'payment.events', topic: 'payment.events.notification-bulk.dlq' },
      { source: 'auth.events', topic: 'auth.events.notification-bulk.dlq' },
    ]);
  });

  it('without any, takes the longest runtime name that ends the group id: a lane is not taken for the single group, nor the reverse', () => {
    expect(findGroupTopology('tidings.notification', sources, topics, []).name).toBe('notification');
    expect(findGroupTopology('tidings.notification.priority', sources, topics, []).name).toBe('notification-priority');
    expect(findGroupTopology('t1234.audit', sources, topics, []).name).toBe('audit');
    expect(findGroupTopology('tidings.analytics', sources, topics, [])).toEqual({ tiers: [], dlqs: [] });
  });

  it("never mistakes another group's DLQ for a source's tiers", () => {
    const index = findGroupTopology('tidings.dlq-index', ['payment.events.notification.dlq'], topics, []);
    expect(index.name).toBe('dlq-index');
    expect(index.tiers.map((t) => t.topic)).toEqual(['payment.events.notification.dlq.dlq-index.retry.1']);
    expect(findGroupTopology('tidings.notification', sources, topics, []).tiers.some((t) => t.topic.includes('dlq-index'))).toBe(false);
  });
});
