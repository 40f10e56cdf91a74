import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a local endpoint answers: an HTTP status and a JSON body. */
export interface JsonReply {
  status: number;
  body: unknown;
}

export interface LocalJsonServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The HTTP plumbing the local provider endpoints (LocalTwilio, LocalFcm) share: a server on loopback that reads each request
 * body whole and answers with the JSON the handler returns.
 */
export async function startLocalJsonServer(
  handle: (req: http.IncomingMessage, body: string) => JsonReply,
  port = 0,
): Promise<LocalJsonServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = handle(req, Buffer.concat(chunks).toString('utf8'));
      const text = JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      // The SDKs keep connections alive; drop them so the server stops at once.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
