import { z } from 'zod';

/** The claim options every ledger deliverer shares (event delivery, quiet-hours dispatch). */
export const claimOptions = {
  /**
   * How long a claim on a ledger row lasts without renewal. A dead owner's rows are taken
   * over after at most this long; it must exceed the longest send (with failover) by a margin.
   */
  leaseMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
  /** Names this process in the ledger's `claimed_by`. Default host, pid and a random suffix. */
  instanceId: z.string().min(1).optional(),
};
