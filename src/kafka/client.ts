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

/** Routes kafkajs' own logging into the structured logger. */
function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...rest } = log;
    // Publishes are bounded on purpose (a caller needs an answer; the outbox is the path that
    // never gives up), so kafkajs' notice about limited idempotent retries is expected.
    // Tidings' own producers pick the Java-compatible partitioner explicitly.
    const quiet = message.startsWith('Limiting retries for the idempotent producer') || message.startsWith('KafkaJS v2.0.0 switched default partitioner');
    // kafkajs logs every protocol error answer at ERROR, although it retries them itself
    // (rebalances, leader moves, coordinator loading); they are warnings to an operator.
    const retried = level === logLevel.ERROR && message.startsWith('Response ');
    logger[quiet ? 'debug' : retried ? 'warn' : (LEVELS[level] ?? 'info')](rest, message);
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
