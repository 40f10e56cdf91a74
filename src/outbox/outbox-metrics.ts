import type { Db } from '../db/database';
import { describe } from '../errors';
import type { Logger } from '../observability/logger';
import { metricsRegistry, outboxBacklogRows, outboxOldestAge, type MetricsRefresher } from '../observability/metrics';
import { outboxStatus } from '../ops/inspect/outbox-status';

/**
 * Exports the outbox gauges (`tidings_outbox_backlog_rows`, `tidings_outbox_oldest_age_seconds`)
 * from this process and returns what reads them from `db` at each scrape, as `tidings outbox
 * status` does. A failed read leaves the last values (readiness reports the database) and logs.
 */
export function outboxGauges(db: Db, logger: Logger): MetricsRefresher {
  metricsRegistry.registerMetric(outboxBacklogRows);
  metricsRegistry.registerMetric(outboxOldestAge);
  return async () => {
    try {
      const status = await outboxStatus(db);
      outboxBacklogRows.set(status.backlog);
      outboxOldestAge.set(status.oldestAgeSeconds ?? 0);
    } catch (error) {
      logger.warn({ error: describe(error) }, 'outbox gauges not refreshed: the outbox could not be read');
    }
  };
}
