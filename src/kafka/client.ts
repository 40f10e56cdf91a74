import { Kafka, logLevel, type LogEntry, type logCreator } from 'kafkajs';
import { createLogger, type Logger } from '../observability/logger';

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId?: string;
  /** Where kafkajs' own log lines go. Default: a logger named `kafkajs`. */
  logger?: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * What a fresh or busy broker answers while it settles (leader elections, a coordinator
 * loading its group state, a rebalance, a topic created a moment ago that not every broker
 * serves yet). kafkajs retries all of it itself; shown at the default level it buries a
 * newcomer's first `npm start` in warnings about nothing. If the retries run out, the crash
 * or the failed publish is still logged (a missing topic: the publish error says so).
 */
const TRANSIENT =
  /no leader for this topic-partition|not the leader for (?:that|this) topic-partition|does not host this topic-partition|leader(?:ship)? election|coordinator is loading|coordinator is not available|not the correct coordinator|group is rebalancing|leader epoch in the request is/i;

/** The level a kafkajs log entry is written at. */
function kafkaLogLevel(level: logLevel, message: string, error: unknown): 'error' | 'warn' | 'info' | 'debug' {
  // Publishes are bounded on purpose (a caller needs an answer; the outbox is the path that
  // never gives up), so kafkajs' notice about limited idempotent retries is expected.
  // Tidings' own producers pick the Java-compatible partitioner explicitly.
  if (message.startsWith('Limiting retries for the idempotent producer') || message.startsWith('KafkaJS v2.0.0 switched default partitioner')) return 'debug';
  // A crash or a restart is news even when its cause was transient: the retries ran out.
  const final = message.startsWith('Crash') || message.startsWith('Restarting');
  if (!final && TRANSIENT.test(`${message} ${typeof error === 'string' ? error : ''}`)) return 'debug';
  // kafkajs logs every protocol error answer at ERROR, although it retries them itself
  // (rebalances, leader moves, coordinator loading); they are warnings to an operator.
  if (level === logLevel.ERROR && message.startsWith('Response ')) return 'warn';
  return LEVELS[level] ?? 'info';
}

/** Routes kafkajs' own logging into the structured logger. */
function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...rest } = log;
    logger[kafkaLogLevel(level, message, rest.error)](rest, message);
  };
}

export function createKafka(options: KafkaConnectionOptions): Kafka {
  return new Kafka({
    clientId: options.clientId ?? 'tidings',
    brokers: options.brokers,
    // kafkajs logs every retriable protocol error at ERROR; WARN keeps real problems visible.
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(options.logger ?? createLogger('kafkajs')),
    retry: { initialRetryTime: 100, retries: 8 },
  });
}
