import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiApp, type ApiOptions } from './app';

export interface ApiServer {
  server: Server;
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Stops accepting connections and closes idle ones. Idempotent. */
  close(): Promise<void>;
}

/** Serves the HTTP API on `port` (0 picks a free one) and resolves once it is listening. */
export async function startApiServer(options: ApiOptions & { port: number; host?: string }): Promise<ApiServer> {
  const app = createApiApp(options);
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(options.port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}
