import { TidingsError } from '../errors';
import { backoffDelay } from './backoff';

/** A retry loop or a wait was ended by its abort signal (shutdown); `cause` is the last failure, if any. */
export class RetryAbortedError extends TidingsError {
  constructor(what: string, cause?: unknown) {
    super('ABORTED', `${what}: stopped before it succeeded`, { retriable: true, cause });
  }
}

export interface RetryOptions {
  /** Names the work in errors and logs. */
  what: string;
  /** First delay ceiling; doubles per attempt up to `maxMs` (full jitter). Default 200 ms. */
  initialMs?: number;
  /** Default 30 s. */
  maxMs?: number;
  /** Attempts before the last error is thrown. Default: unlimited. */
  maxAttempts?: number;
  /** Ends the loop at once (even mid-wait) with `RetryAbortedError`; the first attempt runs regardless. */
  signal?: AbortSignal;
  /** Whether `error` is worth another attempt. Default: every error. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. to log or count. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

/**
 * The one retry loop of Tidings: runs `work` until it succeeds, with exponential backoff and
 * full jitter between attempts. `attempt` starts at 0.
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { initialMs = 200, maxMs = 30_000, maxAttempts = Infinity, signal } = options;
  for (let attempt = 0; ; attempt++) {
    // The first attempt always runs: an abort ends the waiting between attempts, not work
    // that can still succeed at once (e.g. recording a send while stopping).
    if (attempt > 0 && signal?.aborted) throw new RetryAbortedError(options.what);
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt + 1 >= maxAttempts || (options.shouldRetry && !options.shouldRetry(error, attempt))) throw error;
      if (signal?.aborted) throw new RetryAbortedError(options.what, error);
      const delayMs = backoffDelay(attempt, initialMs, maxMs, options.random);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, signal).catch((aborted: unknown) => {
        throw aborted instanceof RetryAbortedError ? new RetryAbortedError(options.what, error) : aborted;
      });
    }
  }
}

/** Waits `ms`; rejects with `RetryAbortedError` as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new RetryAbortedError('wait'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new RetryAbortedError('wait'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
