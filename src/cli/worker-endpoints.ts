import { readinessCheck } from '../api/readiness';
import { ConfigError } from '../errors';
import { LagMetrics } from '../observability/lag-metrics';
import type { Logger } from '../observability/logger';
import type { MetricsRefresher } from '../observability/metrics';
import { startMetricsServer } from '../observability/metrics-server';
import type { Platform } from '../platform';

export interface WorkerEndpointsOptions {
  platform: Platform;
  port: number;
  /** Whether the worker's groups have joined (readiness `group`); false until they have and after they stop. */
  joined: () => boolean;
  /** Flag or variable that set `port`, to name it when the port is taken. */
  portSetting: string;
  logger: Logger;
}

export interface WorkerEndpoints {
  url: string;
  /** Exports the lag, retry-tier depth and DLQ depth of `groupIds` from now on (once the groups exist). */
  exportLag(groupIds: readonly string[], intervalMs?: number): void;
  /** Adds gauges read at each scrape (e.g. the outbox gauges of the relay). */
  refreshOnScrape(refresher: MetricsRefresher): void;
  close(): Promise<void>;
}

/**
 * `/metrics`, `/healthz` and `/readyz` of a long-running command, served from before its groups
 * start (so `/healthz` answers during a slow start and `/readyz` says what it waits for) until
 * after they have stopped. Readiness: PostgreSQL, a Kafka broker, the registry, and `joined`.
 */
export async function startWorkerEndpoints(options: WorkerEndpointsOptions): Promise<WorkerEndpoints> {
  const { platform, logger } = options;
  const refreshers: MetricsRefresher[] = [];
  const readiness = readinessCheck({
    db: platform.db,
    kafkaBrokers: platform.endpoints.kafkaBrokers,
    kafkaSecurity: platform.endpoints.kafkaSecurity,
    schemaRegistryUrl: platform.endpoints.schemaRegistryUrl,
    schemaRegistryCredentials: platform.endpoints.schemaRegistryCredentials,
    schemaRegistryCaFile: platform.endpoints.schemaRegistryCaFile,
    joined: options.joined,
    logger,
  });
  const server = await startMetricsServer({ port: options.port, readiness, refreshers, logger }).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EADDRINUSE' ? new ConfigError(`${options.portSetting}: port ${options.port} is in use (0 picks a free one)`, error) : error;
  });
  let lag: LagMetrics | undefined;
  return {
    url: server.url,
    exportLag(groupIds, intervalMs) {
      if (lag || groupIds.length === 0) return;
      lag = new LagMetrics({ kafka: platform.kafka, groupIds, intervalMs, logger });
      lag.start();
    },
    refreshOnScrape(refresher) {
      refreshers.push(refresher);
    },
    async close() {
      await lag?.stop();
      await server.close();
    },
  };
}
