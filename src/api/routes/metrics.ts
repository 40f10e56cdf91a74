import { METRICS_CONTENT_TYPE, enableDefaultMetrics, renderMetrics } from '../../observability/metrics';
import { outboxGauges } from '../../outbox/outbox-metrics';
import { route, type Route, type RouteDeps } from '../route';

/** Prometheus metrics of the API process: the default process metrics and the outbox gauges. */
export function metricsRoutes({ db, logger }: RouteDeps): Route[] {
  enableDefaultMetrics();
  const refreshers = [outboxGauges(db, logger)];
  return [
    route({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tag: 'health',
      summary: 'Prometheus metrics: process and Node.js metrics, the outbox backlog and the age of its oldest row',
      description: 'Unauthenticated like /healthz (no personal data): restrict it at the network if the API is exposed. Workers serve the same on their `--metrics-port`, with their consumer groups\' metrics.',
      access: { kind: 'public' },
      ok: 'Prometheus text exposition format 0.0.4',
      okContentType: METRICS_CONTENT_TYPE,
      handle: async () => ({ body: await renderMetrics(refreshers), contentType: METRICS_CONTENT_TYPE }),
    }),
  ];
}
