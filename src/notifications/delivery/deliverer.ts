import type { DeliveryFailure } from '../../consumer/event-handler';
import type { EventRecord } from '../../consumer/messages';
import { personalValuesOf } from '../../consumer/personal-values';
import { RecipientUnreachableError, TidingsError, describe } from '../../errors';
import type { EventMap, EventType } from '../../events/generated';
import { faultPoint } from '../../observability/fault-injection';
import type { Logger } from '../../observability/logger';
import { redactedErrorText } from '../../observability/redaction';
import { inEventContext } from '../../observability/tracing';
import { RetryAbortedError, retry, sleep } from '../../retry/retry';
import type { ChannelName } from '../channels/channel';
import type { ChannelSender } from '../channels/channel-sender';
import type { FailoverResult } from '../providers/failover';
import { inQuietHours, quietHoursEnd, type PreferenceStore, type UserPreferences } from '../preferences';
import type { RateLimiter } from '../rate-limiter';
import { routeOf } from '../routing';
import { countDelivery, observeAcceptance } from './delivery-metrics';
import { Lease, SendHeldBackError } from './lease';
import { ClaimLostError, type Claim, type ClaimedRow, type LedgerClaims } from './ledger-claims';
import type { MessageRenderer, RenderedMessage } from './message-renderer';
import { SendWave, type WaveSlot } from './send-wave';
import { addressesOf } from './planning';

export interface DeliveryStats {
  sent: number;
  /** Retries of recording a provider's acceptance while the database was unreachable. */
  ledgerRetries: number;
  suppressed: number;
  deferred: number;
  failed: number;
  /** Finishes that found their claim taken over by another deliverer (lease ran out). */
  claimsLost: number;
  /** Polls for rows another live deliverer was still sending. */
  claimWaits: number;
}

export interface DelivererOptions {
  ledger: LedgerClaims;
  channels: Partial<Record<ChannelName, ChannelSender>>;
  preferences?: PreferenceStore;
  rateLimiter?: RateLimiter;
  renderer: MessageRenderer;
  /** Names this process in `claimed_by`. */
  owner: string;
  sendConcurrency: number;
  leaseMs: number;
  claimPollMs: number;
  stats: DeliveryStats;
  logger: Logger;
  now: () => Date;
  /** Aborted on shutdown: waits and ledger retries end at once. */
  signal: AbortSignal;
}

type Events = Map<string, EventRecord>;

/**
 * Sends the open ledger rows of a chunk's events: claim → render → (quiet hours, rate
 * limit) → send → record, at most `sendConcurrency` sends at a time.
 *
 * `deliver` returns only when every row it claimed has settled and been recorded, and when
 * no row of these events is still being sent by another live deliverer (it waits for those,
 * and takes them over if their lease runs out): a chunk whose offsets are committed after it
 * never leaves a send behind. An infrastructure error is thrown after the other sends of the
 * chunk have settled, so the retried chunk never races a send still in flight.
 */
export class Deliverer {
  /** Rows this process is delivering right now (under any claim). */
  private readonly inFlight = new Set<string>();
  /** A sent row could not be recorded just now: start no other send until one is. */
  private ledgerUnreachable = false;

  constructor(private readonly options: DelivererOptions) {}

  async deliver(events: EventRecord[]): Promise<DeliveryFailure[]> {
    const { ledger, signal } = this.options;
    if (signal.aborted) throw new RetryAbortedError('notification delivery');
    const byId: Events = new Map(events.map((e) => [e.eventId, e]));
    const claim = ledger.newClaim(this.options.owner, this.options.leaseMs);
    const lease = new Lease(ledger, claim, this.options.logger);
    const failures: DeliveryFailure[] = [];
    let prefs: Map<string, UserPreferences> | undefined;
    try {
      let started = Date.now();
      let { claimed, busy } = await ledger.claimEvents([...byId.keys()], claim, this.inFlight);
      for (;;) {
        if (claimed.length > 0) {
          lease.hold(claimed.map((r) => r.id), started);
          prefs ??= (await this.options.preferences?.load(events.map((e) => String(e.payload.user_id)))) ?? new Map();
          failures.push(...(await this.sendAll(claimed, byId, prefs, claim, lease)));
        }
        if (busy.length === 0) return failures;
        // Another live deliverer is sending some of these rows: committing this chunk now
        // would leave them to it alone, and if it dies they would never be retried.
        this.options.stats.claimWaits++;
        await sleep(this.options.claimPollMs, signal);
        started = Date.now();
        ({ claimed, busy } = await ledger.claimEvents([], claim, this.inFlight, busy));
      }
    } finally {
      lease.stop();
    }
  }

  /** Delivers the claimed rows; waits for every one to settle, then throws the first infrastructure error, if any. */
  private async sendAll(rows: ClaimedRow[], events: Events, prefs: Map<string, UserPreferences>, claim: Claim, lease: Lease): Promise<DeliveryFailure[]> {
    const wave = new SendWave(this.options.ledger.outcomes, this.options.sendConcurrency);
    for (const row of rows) this.inFlight.add(row.id);
    const settled = await Promise.allSettled(
      rows.map(async (row) => {
        const event = events.get(row.event_id) as EventRecord;
        const slot = wave.join();
        try {
          return { eventId: row.event_id, error: await this.deliverRow(row, event, prefs.get(String(event.payload.user_id)), claim, lease, wave, slot) };
        } finally {
          slot.leave();
          this.inFlight.delete(row.id);
          lease.release(row.id);
        }
      }),
    );
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    if (errors.length > 0) {
      this.options.logger.warn({ failedRows: errors.length, rows: rows.length, error: describe(errors[0]) }, 'delivery interrupted by an infrastructure error; every other send of the chunk has settled');
      throw errors[0];
    }
    return settled.flatMap((s) => (s.status === 'fulfilled' && s.value.error !== undefined ? [s.value] : []));
  }

  /**
   * Delivers one claimed row: decides and sends it in one of the wave's places, then records
   * the outcome through the wave (batched with others). Returns the error that should retry
   * or dead-letter the event, if any.
   */
  private async deliverRow(row: ClaimedRow, event: EventRecord, prefs: UserPreferences | undefined, claim: Claim, lease: Lease, wave: SendWave, slot: WaveSlot): Promise<unknown> {
    // In its event's trace context, so the provider's span is a child of the event's process span.
    const attempt = await wave.send(() => inEventContext(row.event_id, () => this.attempt(row, event, prefs, claim, lease)));
    const { logger } = this.options;
    const entry = { row, claim };
    switch (attempt.kind) {
      case 'suppressed':
        return this.record(slot.record({ ...entry, status: 'suppressed', outcome: { reason: attempt.reason, templateVersion: attempt.templateVersion } }), row.channel, 'suppressed');
      case 'template':
        await this.record(slot.record({ ...entry, status: 'failed', outcome: { reason: 'template', error: attempt.error, personal: personalValuesOf(event) } }), row.channel, 'failed');
        return attempt.error;
      case 'deferred': {
        const { templateVersion, ...stored } = attempt.message;
        const outcome = { reason: 'quiet_hours', notBefore: attempt.notBefore, message: stored, templateVersion };
        return this.record(slot.record({ ...entry, status: 'deferred', outcome }), row.channel, 'deferred');
      }
      case 'sent': {
        const { result, templateVersion } = attempt;
        faultPoint('notification.after-provider-accepted');
        // Providers that failed before this one left error text in the attempts.
        const personal = result.attempts.some((a) => a.error !== undefined) ? personalValuesOf(event) : [];
        const outcome = { provider: result.provider, providerMessageId: result.receipt?.providerMessageId, templateVersion, personal };
        await this.untilRecorded(() => slot.record({ ...entry, status: 'sent', outcome, attempts: result.attempts }), { event, channel: row.channel, result });
        return undefined;
      }
      case 'not-sent': {
        const { result, templateVersion } = attempt;
        const error = result.error;
        // A provider's reply may quote the address and the name: masked in the ledger and the log.
        const personal = personalValuesOf(event);
        if (error instanceof RecipientUnreachableError) {
          // A dead address is the user's state, not the event's fault: record it, try the fallback.
          await this.record(slot.record({ ...entry, status: 'failed', outcome: { reason: 'unreachable', error, templateVersion, personal }, attempts: result.attempts }), row.channel, 'failed', result);
          return this.fallback(row, event, claim, lease, wave);
        }
        const retriable = !(error instanceof TidingsError) || error.retriable;
        await this.record(slot.record({ ...entry, status: retriable ? 'pending' : 'failed', outcome: { error, templateVersion, personal }, attempts: result.attempts }), row.channel, 'failed', result, !retriable);
        logger.warn({ eventId: row.event_id, channel: row.channel, error: redactedErrorText(error, [row.recipient, ...personal]) }, 'notification not sent');
        return error;
      }
    }
  }

  /** What to do with one claimed row, and the provider send if it goes out; throws to leave the row claimed (shutdown, lost claim). */
  private async attempt(row: ClaimedRow, event: EventRecord, prefs: UserPreferences | undefined, claim: Claim, lease: Lease): Promise<RowDecision> {
    const sender = this.options.channels[row.channel];
    if (!sender) return { kind: 'suppressed', reason: 'channel_disabled' };
    const route = routeOf(event.type);
    let message;
    try {
      message = this.options.renderer.render(row, event);
    } catch (error) {
      return { kind: 'template', error };
    }
    const now = this.options.now();
    // Quiet hours hold back non-urgent messages on intrusive channels until they are over.
    if (route.priority !== 'high' && (row.channel === 'sms' || row.channel === 'push') && prefs?.quietHours && inQuietHours(prefs.quietHours, now)) {
      return { kind: 'deferred', message, notBefore: quietHoursEnd(prefs.quietHours, now) };
    }
    const limiter = this.options.rateLimiter;
    if (limiter && row.user_id && row.rate_limit === null && limiter.limitOf(row.channel)) {
      const decision = await limiter.take({ id: row.id, userId: row.user_id, channel: row.channel, mandatory: route.mandatory }, claim.token, now);
      if (decision === 'lost') {
        this.options.stats.claimsLost++;
        throw new ClaimLostError(row.id);
      }
      if (decision === 'limited') return { kind: 'suppressed', reason: 'rate_limited', templateVersion: message.templateVersion };
    }
    // Shutting down: a send not yet started is left claimed for the next owner.
    if (this.options.signal.aborted) throw new RetryAbortedError('notification delivery');
    if (this.ledgerUnreachable) throw new SendHeldBackError(row.id, 'the ledger cannot record sends right now');
    lease.assertCanSend(row.id);
    const result = await sender.sendWithAttempts(message);
    return { kind: result.receipt ? 'sent' : 'not-sent', result, templateVersion: message.templateVersion };
  }

  /**
   * The provider has it: keep trying to record that through a database outage, so an outage
   * (unlike a crash) does not turn into a second send. Shutdown ends the wait: the row stays
   * `sending` and the next owner sends it again after the lease (the documented duplicate window).
   */
  private async untilRecorded(write: () => Promise<boolean>, sent: { event: EventRecord; channel: ChannelName; result: FailoverResult }): Promise<void> {
    observeAcceptance(sent.event, sent.channel, Date.now());
    const recorded = await retry(write, {
      what: 'recording a sent notification',
      initialMs: 200,
      maxMs: 5_000,
      signal: this.options.signal,
      onRetry: (error, attempt, delayMs) => {
        this.ledgerUnreachable = true;
        this.options.stats.ledgerRetries++;
        this.options.logger.warn({ attempt: attempt + 1, retryInMs: delayMs, error: describe(error) }, 'sent, but the ledger is unreachable; retrying the update');
      },
    });
    this.ledgerUnreachable = false;
    if (!recorded) return;
    this.options.stats.sent++;
    countDelivery(sent.channel, 'sent', sent.result);
  }

  /**
   * Counts a row's outcome once the ledger has it: in the metrics always (a retriable failure
   * too), in `stats` when it is `final` (a retriable failure's row goes back to `pending`).
   */
  private async record(finish: Promise<boolean>, channel: ChannelName, status: 'suppressed' | 'deferred' | 'failed', result?: FailoverResult, final = true): Promise<undefined> {
    if (!(await finish)) return undefined;
    if (final) this.options.stats[status]++;
    countDelivery(channel, status, result);
    return undefined;
  }

  private async fallback(row: ClaimedRow, event: EventRecord, claim: Claim, lease: Lease, wave: SendWave): Promise<unknown> {
    const channelRoute = routeOf(event.type).channels.find((c) => c.channel === row.channel);
    if (!channelRoute?.fallback) return undefined;
    const payload = event.payload as unknown as EventMap[EventType];
    const [recipient] = addressesOf(channelRoute.fallback, payload, []);
    if (!recipient) return undefined;
    const reason = `fallback_from_${row.channel}`;
    const inserted = await this.options.ledger.insertClaimed({ event_id: event.eventId, event_type: event.type, channel: channelRoute.fallback, recipient, user_id: payload.user_id, reason }, claim);
    // Already planned on that channel (e.g. a severe login alert also goes by SMS): nothing to add.
    if (!inserted) return undefined;
    this.inFlight.add(inserted.id);
    lease.hold([inserted.id], Date.now() - 1);
    const slot = wave.join();
    try {
      return await this.deliverRow(inserted, event, undefined, claim, lease, wave, slot);
    } finally {
      slot.leave();
      this.inFlight.delete(inserted.id);
      lease.release(inserted.id);
    }
  }
}

/** What `attempt` decided for a row (and the provider's answer when it sent). */
type RowDecision =
  | { kind: 'suppressed'; reason: string; templateVersion?: string }
  | { kind: 'template'; error: unknown }
  | { kind: 'deferred'; message: RenderedMessage; notBefore: Date }
  | { kind: 'sent' | 'not-sent'; result: FailoverResult; templateVersion: string };
