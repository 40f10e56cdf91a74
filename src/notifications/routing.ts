import type { EventMap, EventType } from '../events/generated';
import type { ChannelName } from './channels/channel';

/**
 * The routing table: for each event type, which channels notify the user, with which
 * category and priority, and whether the user may opt out. One row per event type, checked
 * by a test to cover the whole catalog.
 *
 * - category: what preferences are keyed on (a user opts out of `marketing` email, say).
 * - priority `high`: payment confirmations and security alerts. They run in their own lane
 *   (consumer group) so an auth or bulk backlog never delays them, and quiet hours do not
 *   hold them back.
 * - mandatory: security and legal notifications are sent even to users who opted out.
 * - a channel marked `optIn` is used only for users who asked for it (SMS payment alerts).
 * - `when` narrows a channel to some events (SMS only for a severe login alert).
 * - `fallback`: if every provider of a channel fails for good (e.g. no live push token),
 *   the notification goes out on the fallback channel instead.
 */
export type Category = 'security' | 'account' | 'billing' | 'marketing';
export type Priority = 'high' | 'normal';

export interface ChannelRoute<T extends EventType> {
  channel: ChannelName;
  optIn?: boolean;
  when?: (event: EventMap[T]) => boolean;
  fallback?: ChannelName;
}

export interface Route<T extends EventType = EventType> {
  category: Category;
  priority: Priority;
  mandatory: boolean;
  channels: ChannelRoute<T>[];
}

type RoutingTable = { [T in EventType]: Route<T> };

export const ROUTING: RoutingTable = {
  USER_REGISTERED: { category: 'marketing', priority: 'normal', mandatory: false, channels: [{ channel: 'email' }, { channel: 'in_app' }] },
  EMAIL_VERIFICATION_REQUESTED: { category: 'security', priority: 'high', mandatory: true, channels: [{ channel: 'email' }] },
  PASSWORD_RESET_REQUESTED: { category: 'security', priority: 'high', mandatory: true, channels: [{ channel: 'email' }] },
  LOGIN_ALERT: {
    category: 'security',
    priority: 'high',
    mandatory: true,
    channels: [{ channel: 'email' }, { channel: 'push', fallback: 'sms' }, { channel: 'sms', when: (e) => e.severity === 'HIGH' }],
  },
  ACCOUNT_LOCKED: { category: 'security', priority: 'high', mandatory: true, channels: [{ channel: 'email' }, { channel: 'push' }] },
  ACCOUNT_UNLOCKED: { category: 'security', priority: 'normal', mandatory: true, channels: [{ channel: 'email' }] },
  TWO_FACTOR_ENABLED: { category: 'security', priority: 'normal', mandatory: true, channels: [{ channel: 'email' }] },
  PAYMENT_SUCCEEDED: {
    category: 'billing',
    priority: 'high',
    mandatory: true,
    channels: [{ channel: 'email' }, { channel: 'in_app' }, { channel: 'sms', optIn: true }],
  },
  PAYMENT_FAILED: { category: 'billing', priority: 'high', mandatory: true, channels: [{ channel: 'email' }, { channel: 'sms' }, { channel: 'in_app' }] },
  SUBSCRIPTION_CREATED: { category: 'billing', priority: 'normal', mandatory: false, channels: [{ channel: 'email' }, { channel: 'in_app' }] },
  SUBSCRIPTION_RENEWED: { category: 'billing', priority: 'normal', mandatory: false, channels: [{ channel: 'email' }, { channel: 'in_app' }] },
  SUBSCRIPTION_CANCELLED: { category: 'billing', priority: 'normal', mandatory: false, channels: [{ channel: 'email' }, { channel: 'in_app' }] },
  REFUND_PROCESSED: {
    category: 'billing',
    priority: 'normal',
    mandatory: true,
    channels: [{ channel: 'email' }, { channel: 'in_app' }, { channel: 'sms', optIn: true }],
  },
  INVOICE_GENERATED: { category: 'billing', priority: 'normal', mandatory: true, channels: [{ channel: 'email' }] },
  PAYMENT_DISPUTED: { category: 'billing', priority: 'high', mandatory: true, channels: [{ channel: 'email' }, { channel: 'in_app' }] },
};

export function routeOf<T extends EventType>(type: T): Route<T> {
  return ROUTING[type] as unknown as Route<T>;
}

export type LaneName = 'all' | 'priority' | 'bulk';

/** Which event types a lane of the notification group handles. */
export function laneAccepts(lane: LaneName, type: EventType): boolean {
  if (lane === 'all') return true;
  return (ROUTING[type].priority === 'high') === (lane === 'priority');
}
