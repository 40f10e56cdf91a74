import { redactedErrorText } from '../observability/redaction';
import type { FailoverResult } from './providers/failover';

/**
 * The `delivery_attempts` rows of one ledger row: provider, status, error and latency of each
 * attempt. The error text is redacted (a provider's reply quotes the address): `personal` are
 * the event's personal values, masked wherever the text repeats them.
 */
export function attemptRows(ledgerId: string, attempts: FailoverResult['attempts'], personal: readonly string[] = []): Array<Record<string, unknown>> {
  return attempts.map((a) => ({
    ledger_id: ledgerId,
    provider: a.provider,
    status: a.status,
    error: a.error === undefined ? null : redactedErrorText(a.error, personal),
    latency_ms: Math.round(a.latencyMs),
  }));
}
