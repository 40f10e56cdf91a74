import type { Scenario } from '../harness/scenario';
import { emailPath } from './email-path';
import { kafkaClient } from './kafka-client';
import { kafkaJavaCeiling } from './kafka-java-ceiling';
import { notificationPipeline } from './notification-pipeline';
import { outboxRelay } from './outbox-relay';
import { priorityLane } from './priority-lane';
import { publish } from './publish';
import { replayRead } from './replay-read';
import { scaling } from './scaling';
import { validateEncode } from './validate-encode';

/**
 * Every scenario `npm run bench` knows, in run order. A new scenario is one file in this
 * folder plus one line here. `kafka-java-ceiling` follows `publish` so the table can set the
 * SDK's number beside the Java ceiling.
 */
export const SCENARIOS: readonly Scenario[] = [validateEncode, publish, kafkaJavaCeiling, kafkaClient, notificationPipeline, emailPath, priorityLane, replayRead, outboxRelay, scaling];
