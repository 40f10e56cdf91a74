/**
 * The public surface of Tidings: the SDK entry points, their option types and the errors.
 * Internals (chunk processing, key holds, providers' plumbing) are not exported.
 */
export { Platform, type PlatformOptions } from './platform';
export { readEnv, resolveEndpoints, type Endpoints, type Env } from './config/env';
export { Publisher, type PublisherOptions, type PublishOptions, type PublishResult } from './producer/publisher';
export { Outbox, type OutboxOptions } from './outbox/outbox';
export { migrate, type MigrateOptions } from './db/database';
export { OutboxRelay, type OutboxRelayOptions, type OutboxRelayStats } from './outbox/outbox-relay';
export { EventRegistry, type EventRegistryOptions, type DecodedEvent } from './registry/event-registry';
export { DEFAULT_TOPICS, prefixedTopics, type TopicNames } from './kafka/topics';
export { ConsumerRuntime, type ConsumerRuntimeOptions, type ConsumerStats, type EventHandler, type DeliveryFailure, type Lane } from './consumer/consumer-runtime';
export type { EventRecord } from './consumer/messages';
export { DEFAULT_RETRY_DELAYS_MS } from './consumer/retry-topology';
export { FAILURE_HEADERS } from './consumer/failure-headers';
export { validateEvent } from './events/validate';
export { listEventDefinitions, getEventDefinition, type EventDefinition } from './events/catalog';
export * from './events/generated';
export { ROUTING, type Route, type Category, type Priority, type LaneName } from './notifications/routing';
export { PreferenceStore } from './notifications/preferences';
export type { ChannelName, OutboundMessage, Provider, ProviderReceipt } from './notifications/channels/channel';
export {
  TidingsError,
  ConfigError,
  EventValidationError,
  CardDataError,
  UnknownEventTypeError,
  MalformedMessageError,
  TemplateRenderError,
  ProviderError,
  RegistryError,
  PublishError,
  StackError,
  RecipientUnreachableError,
  AllProvidersFailedError,
} from './errors';
export { RetryAbortedError } from './retry/retry';
export { DataKeyStore, type DataKeyStoreOptions } from './crypto/data-key-store';
export { LocalKeyManagement, type KeyManagementService } from './crypto/key-management';
export { KeyUnavailableError, UserErasedError, KafkaAuthenticationError, KafkaAuthorizationError } from './errors';
export { RegistryAuthError, type RegistryCredentials } from './registry/registry-http';
export type { KafkaSecurity } from './kafka/client';
export { UserTokens } from './api/auth/user-tokens';
