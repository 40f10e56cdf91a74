import { performance } from 'node:perf_hooks';
import { AllProvidersFailedError, ConfigError, RecipientUnreachableError, describe } from '../../errors';
import { createLogger, type Logger } from '../../observability/logger';
import type { ChannelName, OutboundMessage, Provider, ProviderReceipt } from '../channels/channel';
import { CircuitBreaker, CircuitOpenError, isRetriableFailure, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker';

export interface Attempt {
  provider: string;
  status: 'sent' | 'failed' | 'skipped';
  /** Why it failed, or CircuitOpenError when skipped. */
  error?: unknown;
  /** Time spent on this provider; 0 when skipped. */
  latencyMs: number;
}

export interface FailoverResult {
  receipt?: ProviderReceipt;
  /** Name of the provider that accepted the message. */
  provider?: string;
  attempts: Attempt[];
  /**
   * Set when nothing was sent: RecipientUnreachableError or a non-retriable ProviderError as
   * thrown by the provider that gave it, or AllProvidersFailedError when every provider failed
   * or was skipped.
   */
  error?: unknown;
}

/**
 * Remembers addresses that can never be reached (e.g. unregistered push tokens) so they are
 * not sent to again. `DeviceTokens` implements it for push.
 */
export interface DeadRecipients {
  isDead(recipient: string): Promise<boolean>;
  markDead(recipient: string, reason: string): Promise<void>;
}

export interface FailoverOptions {
  channel: ChannelName;
  /** In order of preference; all must serve `channel`. */
  providers: readonly Provider[];
  /** Options of each provider's circuit breaker (defaults as in CircuitBreaker). */
  circuit?: CircuitBreakerOptions;
  deadRecipients?: DeadRecipients;
  /** Name in the delivery ledger when the failover itself is used as a Provider. Default `<channel>`. */
  name?: string;
  logger?: Logger;
}

/**
 * One channel over an ordered list of providers: a provider whose circuit is open is skipped,
 * a retriable failure moves on to the next, and a dead recipient or a non-retriable rejection
 * stops (another provider would get the same answer). Every attempt is reported.
 */
export class FailoverProvider implements Provider {
  readonly name: string;
  readonly channel: ChannelName;
  private readonly entries: ReadonlyArray<{ provider: Provider; breaker: CircuitBreaker }>;
  private readonly deadRecipients: DeadRecipients | undefined;
  private readonly logger: Logger;

  constructor(options: FailoverOptions) {
    if (options.providers.length === 0) throw new ConfigError(`${options.channel}: failover needs at least one provider`);
    const names = new Set<string>();
    for (const p of options.providers) {
      if (p.channel !== options.channel) throw new ConfigError(`provider "${p.name}" serves ${p.channel}, not ${options.channel}`);
      // Attempts and ledger rows are told apart by name.
      if (names.has(p.name)) throw new ConfigError(`${options.channel}: two providers are named "${p.name}"`);
      names.add(p.name);
    }
    this.channel = options.channel;
    this.name = options.name ?? options.channel;
    this.entries = options.providers.map((provider) => ({ provider, breaker: new CircuitBreaker(provider.name, options.circuit) }));
    this.deadRecipients = options.deadRecipients;
    this.logger = options.logger ?? createLogger(`failover.${options.channel}`);
  }

  get providers(): readonly Provider[] {
    return this.entries.map((e) => e.provider);
  }

  circuitState(providerName: string): CircuitState | undefined {
    return this.entries.find((e) => e.provider.name === providerName)?.breaker.state;
  }

  async send(message: OutboundMessage): Promise<ProviderReceipt> {
    const result = await this.sendWithAttempts(message);
    if (result.receipt) return result.receipt;
    throw result.error;
  }

  async sendWithAttempts(message: OutboundMessage): Promise<FailoverResult> {
    const attempts: Attempt[] = [];
    if (await this.deadRecipients?.isDead(message.recipient)) {
      return { attempts, error: new RecipientUnreachableError(this.name, message.recipient, 'recipient was marked dead earlier; not sent') };
    }
    for (const { provider, breaker } of this.entries) {
      if (!breaker.tryAcquire()) {
        attempts.push({ provider: provider.name, status: 'skipped', error: new CircuitOpenError(provider.name, breaker.retryAt ?? Date.now()), latencyMs: 0 });
        continue;
      }
      const started = performance.now();
      try {
        const receipt = await provider.send(message);
        breaker.record({ ok: true });
        attempts.push({ provider: provider.name, status: 'sent', latencyMs: performance.now() - started });
        return { receipt, provider: provider.name, attempts };
      } catch (error) {
        breaker.record({ ok: false, error });
        attempts.push({ provider: provider.name, status: 'failed', error, latencyMs: performance.now() - started });
        if (error instanceof RecipientUnreachableError) {
          await this.deadRecipients?.markDead(message.recipient, describe(error));
          return { attempts, error };
        }
        if (!isRetriableFailure(error)) return { attempts, error };
        this.logger.warn({ provider: provider.name, eventId: message.eventId, err: describe(error) }, 'provider failed; trying the next');
      }
    }
    return { attempts, error: new AllProvidersFailedError(this.channel, attempts.map((a) => ({ provider: a.provider, error: a.error }))) };
  }

  async close(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.provider.close?.()));
  }
}
