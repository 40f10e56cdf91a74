export { Outbox, type OutboxOptions } from './outbox/outbox';
export { OutboxRelay, type OutboxRelayOptions, type OutboxRelayStats } from './outbox/outbox-relay';
