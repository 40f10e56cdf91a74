import { describe } from '../errors';
import type { FailoverResult } from './providers/failover';

/** The `delivery_attempts` rows of one ledger row: provider, status, error and latency of each attempt. */
export function attemptRows(ledgerId: string, attempts: FailoverResult['attempts']): Array<Record<string, unknown>> {
  return attempts.map((a) => ({
    ledger_id: ledgerId,
    provider: a.provider,
    status: a.status,
    error: a.error === undefined ? null : describe(a.error).slice(0, 2000),
    latency_ms: Math.round(a.latencyMs),
  }));
}
