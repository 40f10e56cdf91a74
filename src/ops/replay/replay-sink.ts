import { describe } from '../../errors';
import type { Logger } from '../../observability/logger';
import { retry, RetryAbortedError } from '../../retry/retry';
import type { ReplayCounts } from './replay-counts';
import type { ReplayRecord } from './record-filter';

/** Where the matching records of a replay go: a group's pipeline, a re-send, another topic. */
export interface ReplaySink {
  open(): Promise<void>;
  /**
   * Handles the matching records of one chunk and adds to `counts`. Returns false when
   * `signal` ended an outage's wait first: the chunk is then read again on resume (each sink
   * makes that harmless or says why it is not).
   */
  process(records: ReplayRecord[], counts: ReplayCounts, signal: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Runs `work` until it succeeds: a failure here is an outage (PostgreSQL, the registry, the
 * broker), retried with backoff as the consumer runtime retries a chunk. False if `signal`
 * ended the wait.
 */
export async function untilDone(what: string, work: () => Promise<void>, signal: AbortSignal, logger: Logger): Promise<boolean> {
  try {
    await retry(work, {
      what,
      signal,
      onRetry: (error, attempt, delayMs) => logger.warn({ attempt: attempt + 1, retryInMs: delayMs, error: describe(error) }, `${what} failed: retrying`),
    });
    return true;
  } catch (error) {
    if (error instanceof RetryAbortedError) return false;
    throw error;
  }
}
