import type { Readable } from 'node:stream';

/**
 * The part of @platformatic/kafka 2.12's API the bench's driver calls, as types. The library
 * is not a dependency of Tidings (it declares Node >= 22.22, below the lines Tidings supports):
 * the `kafka-client` scenario installs it into a cache of its own (./install.ts) and loads it
 * from there, so the project type-checks and installs without it.
 */
export type SASLMechanismValue = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface BaseOptions {
  clientId: string;
  bootstrapBrokers: string[];
  tls?: object;
  sasl?: { mechanism: SASLMechanismValue; username: string; password: string };
}

type Serializer = (value?: Buffer | string) => Buffer | undefined;

export interface ProducerOptions extends BaseOptions {
  idempotent: boolean;
  acks: number;
  compression: 'gzip' | 'none';
  metadataMaxAge?: number;
  serializers: { key: Serializer; value: Serializer; headerKey: Serializer; headerValue: Serializer };
}

export interface ConsumerOptions extends BaseOptions {
  groupId: string;
  sessionTimeout: number;
  heartbeatInterval: number;
  autocommit: boolean;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  maxWaitTime?: number;
}

export interface ClusterMetadata {
  topics: Map<string, { partitionsCount: number }>;
}

export interface MessageToProduce {
  topic: string;
  partition: number;
  key?: Buffer | string;
  value?: Buffer | string;
  headers?: Record<string, Buffer | string>;
  timestamp?: bigint;
}

export interface Message {
  topic: string;
  partition: number;
  key: Buffer | undefined;
  value: Buffer | undefined;
  headerEntries: Array<[Buffer, Buffer]>;
  offset: bigint;
  timestamp: bigint;
  leaderEpoch: number;
}

/** A Readable in object mode whose `read()` returns a Message. */
export interface MessagesStream extends Readable {
  close(): Promise<void>;
}

export interface ConsumerGroupJoinPayload {
  groupId: string;
  memberId: string;
  assignments?: Array<{ topic: string; partitions: number[] }>;
}

export interface Producer {
  initIdempotentProducer(options: object): Promise<unknown>;
  metadata(options: { topics: string[] }): Promise<ClusterMetadata>;
  send(options: { messages: MessageToProduce[] }): Promise<{ offsets?: Array<{ topic: string; partition: number; offset: bigint }> }>;
  close(): Promise<void>;
}

export interface Consumer {
  readonly generationId: number;
  consume(options: { topics: string[]; mode: string; fallbackMode: string; autocommit: boolean; highWaterMark: number }): Promise<MessagesStream>;
  commit(options: { offsets: Array<{ topic: string; partition: number; offset: bigint; leaderEpoch: number }> }): Promise<void>;
  on(event: 'consumer:group:join', listener: (payload: ConsumerGroupJoinPayload) => void): this;
  on(event: 'consumer:group:rebalance', listener: () => void): this;
  off(event: string, listener: (...args: never[]) => void): this;
  close(): Promise<void>;
}

export interface Admin {
  listTopics(): Promise<string[]>;
  createTopics(options: { topics: string[]; partitions: number; replicas: number }): Promise<unknown>;
  metadata(options: { topics: string[] }): Promise<ClusterMetadata>;
  close(): Promise<void>;
}

export interface Library {
  Producer: new (options: ProducerOptions) => Producer;
  Consumer: new (options: ConsumerOptions) => Consumer;
  Admin: new (options: BaseOptions) => Admin;
  ProduceAcks: { ALL: number };
  MessagesStreamModes: { COMMITTED: string };
  MessagesStreamFallbackModes: { EARLIEST: string; LATEST: string };
}
