import { sleep } from '../retry/retry';

/**
 * `--rate` for operator commands: at most `ratePerSecond` items per second, on average, with
 * bursts of at most one second's worth. Without a rate, `take` returns at once.
 */
export class Pacer {
  private readonly rate: number | undefined;
  private tokens: number;
  private last = Date.now();

  constructor(ratePerSecond: number | undefined) {
    if (ratePerSecond !== undefined && !(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
      throw new RangeError(`a rate must be a positive number of items per second (got ${ratePerSecond})`);
    }
    this.rate = ratePerSecond;
    // The first item goes at once; then at most one second's worth can build up while idle.
    this.tokens = ratePerSecond === undefined ? 0 : 1;
  }

  /** Waits until `n` more items may go; rejects with RetryAbortedError if `signal` aborts meanwhile. */
  async take(n = 1, signal?: AbortSignal): Promise<void> {
    if (this.rate === undefined) return;
    this.refill();
    this.tokens -= n;
    if (this.tokens >= 0) return;
    await sleep(Math.ceil((-this.tokens / this.rate) * 1000), signal);
  }

  private refill(): void {
    const now = Date.now();
    const capacity = Math.max(1, this.rate ?? 0);
    this.tokens = Math.min(capacity, this.tokens + ((now - this.last) / 1000) * (this.rate ?? 0));
    this.last = now;
  }
}
