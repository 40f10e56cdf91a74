import { z } from 'zod';
import { parseOptions } from '../../config/options';
import { ProviderError, TidingsError } from '../../errors';
import { watchCircuitBreaker } from '../../observability/metrics';

export type CircuitState = 'closed' | 'open' | 'half_open';

/** `tidings_circuit_breaker_state`'s value of each state, read at every scrape (`state`, so past the cool-down an open circuit reads half-open). */
const STATE_VALUE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long an open circuit refuses calls before letting one trial through, in ms. Default 30000. */
  cooldownMs?: number;
  /** Clock in ms; injectable so tests can move time instead of waiting. Default `Date.now`. */
  now?: () => number;
  /**
   * Which errors count against the provider. Default: retriable errors (and errors Tidings did
   * not classify). A rejection such as a dead recipient proves the provider answered.
   */
  isFailure?: (error: unknown) => boolean;
}

const optionsSchema = z
  .object({
    failureThreshold: z.number().int().min(1).default(5),
    cooldownMs: z.number().int().min(0).default(30_000),
    now: z.custom<() => number>((v) => typeof v === 'function', { message: 'must be a function returning epoch ms' }).default(() => Date.now),
    isFailure: z.custom<(error: unknown) => boolean>((v) => typeof v === 'function', { message: 'must be a function' }).optional(),
  })
  .strict();

/** A call was refused because the provider's circuit is open. Retriable: the circuit closes again. */
export class CircuitOpenError extends TidingsError {
  readonly provider: string;

  constructor(provider: string, retryAt: number) {
    super('CIRCUIT_OPEN', `${provider}: circuit open until ${new Date(retryAt).toISOString()}`, { retriable: true });
    this.provider = provider;
  }
}

export function isRetriableFailure(error: unknown): boolean {
  return !(error instanceof TidingsError) || error.retriable;
}

/** What counts against a provider's circuit: retriable failures of the provider itself. */
export function isProviderFailure(error: unknown): boolean {
  return isRetriableFailure(error) && !(error instanceof ProviderError && error.scope === 'recipient');
}

/**
 * Stops calling a provider that keeps failing: closed → open after `failureThreshold`
 * consecutive failures; after `cooldownMs` one trial call is let through (half-open), and
 * its outcome closes the circuit or opens it for another cool-down.
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly isFailure: (error: unknown) => boolean;
  private current: CircuitState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private trialInFlight = false;

  /** Throws ConfigError naming the bad option. */
  constructor(
    readonly name: string,
    options: CircuitBreakerOptions = {},
  ) {
    const parsed = { data: parseOptions(`circuit breaker (${name})`, optionsSchema, options) };
    this.failureThreshold = parsed.data.failureThreshold;
    this.cooldownMs = parsed.data.cooldownMs;
    this.now = parsed.data.now;
    this.isFailure = parsed.data.isFailure ?? isProviderFailure;
    watchCircuitBreaker(name, () => STATE_VALUE[this.state]);
  }

  /** The state as of now: an open circuit whose cool-down has passed reads as half-open. */
  get state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.cooldownMs) return 'half_open';
    return this.current;
  }

  /** When an open circuit lets its next trial through (ms since epoch); undefined unless open. */
  get retryAt(): number | undefined {
    return this.current === 'open' ? this.openedAt + this.cooldownMs : undefined;
  }

  /**
   * Asks to make one call. Closed: yes. Open within the cool-down: no. Otherwise exactly one
   * caller gets the trial; the others are refused until it reports back.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialInFlight) return false;
    this.current = 'half_open';
    this.trialInFlight = true;
    return true;
  }

  /** Reports the outcome of an acquired call. */
  record(outcome: { ok: true } | { ok: false; error: unknown }): void {
    const failed = !outcome.ok && this.isFailure(outcome.error);
    this.trialInFlight = false;
    if (!failed) {
      this.current = 'closed';
      this.consecutiveFailures = 0;
      return;
    }
    this.consecutiveFailures += 1;
    if (this.current === 'half_open' || this.consecutiveFailures >= this.failureThreshold) {
      this.current = 'open';
      this.openedAt = this.now();
    }
  }

  /** Runs `call` through the breaker; throws CircuitOpenError without calling when refused. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (!this.tryAcquire()) throw new CircuitOpenError(this.name, this.retryAt ?? this.now());
    try {
      const result = await call();
      this.record({ ok: true });
      return result;
    } catch (error) {
      this.record({ ok: false, error });
      throw error;
    }
  }
}
