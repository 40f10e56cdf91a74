import { z } from 'zod';
import { durationMs } from '../config/options';
import { DEFAULT_TOPICS } from '../kafka/topics';

/** Topic names per domain; the Publisher and the Outbox must agree on them. */
export const topicNamesSchema = z.object({ auth: z.string().min(1), payment: z.string().min(1) }).default(DEFAULT_TOPICS);

/** How often a producer re-reads partition counts and leaders. Default 10 s. */
export const metadataMaxAgeSchema = durationMs.default(10_000);
