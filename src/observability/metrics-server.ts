import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { readinessResponse, type Readiness } from '../api/readiness';
import { parseOptions } from '../config/options';
import { describe } from '../errors';
import type { Logger } from './logger';
import { METRICS_CONTENT_TYPE, enableDefaultMetrics, renderMetrics, type MetricsRefresher } from './metrics';

export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Address to bind. Default: every interface, so Prometheus and the kubelet can reach it. */
  host?: string;
  /** What `/readyz` reports (see `readinessCheck`). */
  readiness: () => Promise<Readiness>;
  /** Run before each scrape to bring gauges read on demand up to date (see `renderMetrics`). */
  refreshers?: readonly MetricsRefresher[];
  logger: Logger;
}

export interface MetricsServer {
  /** Where it listens, e.g. `http://127.0.0.1:9464` (loopback when bound to every interface). */
  url: string;
  port: number;
  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void>;
}

const optionsSchema = z.object({
  port: z.number().int().min(0).max(65535),
  host: z.string().min(1).optional(),
});

/**
 * A worker's operational endpoints on a port of their own: `GET /metrics` (Prometheus text),
 * `GET /healthz` (200 while the event loop answers; checks nothing, so an outage of a
 * dependency does not get the process restarted) and `GET /readyz` (200 when every probe of
 * `readiness` passes, else 503 naming what is not ready). A failing handler answers 500; nothing
 * is thrown out of the server.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { port, host } = parseOptions('metrics server', optionsSchema, { port: options.port, host: options.host });
  const { readiness, logger } = options;
  const refreshers = options.refreshers ?? [];
  enableDefaultMetrics();
  const server = http.createServer((req, res) => {
    const send = (status: number, contentType: string, body: string): void => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = (status: number, body: unknown): void => send(status, 'application/json; charset=utf-8', JSON.stringify(body));
    const answer = async (): Promise<void> => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method_not_allowed', message: 'only GET and HEAD' });
      switch (new URL(req.url ?? '/', 'http://localhost').pathname) {
        case '/metrics':
          return send(200, METRICS_CONTENT_TYPE, await renderMetrics(refreshers));
        case '/healthz':
          return json(200, { status: 'ok' });
        case '/readyz': {
          const { status, body } = readinessResponse(await readiness());
          return json(status, body);
        }
        default:
          return json(404, { error: 'not_found', message: 'GET /metrics, /healthz or /readyz' });
      }
    };
    answer().catch((error: unknown) => {
      logger.error({ error: describe(error), path: req.url }, 'metrics server request failed');
      if (!res.headersSent) json(500, { error: 'internal', message: 'the request could not be completed' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ error: describe(error) }, 'metrics server error'));
  const bound = server.address() as AddressInfo;
  const everywhere = host === undefined || host === '0.0.0.0' || host === '::';
  const shown = everywhere ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shown}:${bound.port}`,
    port: bound.port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would hold the close open until it times out.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
