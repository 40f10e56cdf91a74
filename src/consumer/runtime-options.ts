import { z } from 'zod';
import { durationMs, parseOptions, positiveInt } from '../config/options';
import { DEFAULT_RETRY_DELAYS_MS } from './retry-topology';

/** Added to twice the longest retry delay to give the default `maxHoldAgeMs`: slack for a backlog in the tiers. */
export const HOLD_AGE_MARGIN_MS = 10 * 60_000;


/** The settings of a consumer runtime that are plain values (not clients); each has its default here. */
const settingsSchema = z
  .object({
    groupId: z.string().min(1),
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: 'must be a non-empty topic-name fragment (letters, digits, . _ -)' }),
    topics: z.array(z.string().min(1)).min(1),
    orderedTopics: z.array(z.string().min(1)).default([]),
    retryDelaysMs: z.array(durationMs).min(1).readonly().default(DEFAULT_RETRY_DELAYS_MS),
    chunkSize: z.number().int().min(1).max(10_000).default(500),
    // Each partition's chunks stay in order and one at a time; a key lives in one partition.
    // At most 4: the main and retry consumers' open transactions (2 × 4) leave connections of
    // the default pool of 10 for the queries a transaction's work makes outside it.
    partitionsConcurrency: z.number().int().min(1).max(4).default(1),
    fromBeginning: z.boolean().default(true),
    // The broker's default group.min.session.timeout.ms and group.max.session.timeout.ms.
    sessionTimeoutMs: z.number().int().min(6_000).max(1_800_000).default(30_000),
    outageBackoff: z
      .object({ initialMs: durationMs, maxMs: durationMs })
      .refine((b) => b.maxMs >= b.initialMs, { path: ['maxMs'], error: 'must be at least initialMs' })
      .default({ initialMs: 200, maxMs: 30_000 }),
    maxHoldAgeMs: positiveInt.optional(),
  })
  .superRefine((s, ctx) => {
    const unknown = s.orderedTopics.filter((t) => !s.topics.includes(t));
    if (unknown.length > 0) ctx.addIssue({ code: 'custom', path: ['orderedTopics'], message: `must be among topics (not: ${unknown.join(', ')})` });
    const longest = Math.max(...s.retryDelaysMs);
    if (s.maxHoldAgeMs !== undefined && s.maxHoldAgeMs <= longest) {
      // A hold younger than its tier's delay is normal: releasing it would break the key's order every time.
      ctx.addIssue({ code: 'custom', path: ['maxHoldAgeMs'], message: `must be longer than the longest retry delay (${longest} ms)` });
    }
  })
  .transform((s) => ({ ...s, maxHoldAgeMs: s.maxHoldAgeMs ?? defaultMaxHoldAgeMs(s.retryDelaysMs) }));

export type RuntimeSettingsInput = z.input<typeof settingsSchema>;
export type RuntimeSettings = z.output<typeof settingsSchema>;

/** Twice the longest retry delay plus 10 minutes: a head record is back from its tier well before. */
export function defaultMaxHoldAgeMs(retryDelaysMs: readonly number[]): number {
  return 2 * Math.max(...retryDelaysMs) + HOLD_AGE_MARGIN_MS;
}

/** Applies the defaults; a bad value is refused with a `ConfigError` naming the option. */
export function consumerRuntimeSettings(input: RuntimeSettingsInput): RuntimeSettings {
  return parseOptions('consumer runtime', settingsSchema, input);
}
