import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError } from '../../errors';

/**
 * Validates a component's options against its schema (defaults filled in); a bad value is
 * refused with a ConfigError naming the option, e.g. `sendConcurrency: Too big: expected …`.
 */
export function parseOptions<S extends z.ZodType>(component: string, schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
  throw new ConfigError(`invalid ${component} options: ${problems.join('; ')}`);
}

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

/** The `claimed_by` of this process when no instance id is configured. */
export function defaultInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
