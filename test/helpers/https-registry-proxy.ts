import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ensureLocalCertificates } from '../../src/dev/local-certificates';

export interface HttpsRegistryProxy {
  /** The registry's API through the proxy: `https://127.0.0.1:<port>/apis/ccompat/v7`. */
  url: string;
  /** PEM of the CA that signed the proxy's certificate. */
  caFile: string;
  /** Every request the proxy answered: whether it carried accepted credentials. */
  requests: Array<{ method: string; path: string; authorized: boolean }>;
  close(): Promise<void>;
}

/**
 * An HTTPS reverse proxy in front of the shared (plain HTTP) registry that demands credentials,
 * as a registry behind a gateway does: a certificate from a CA made for it in `dir`, and 401
 * for any request without one of the `accept`ed credentials.
 */
export async function startHttpsRegistryProxy(options: {
  /** The real registry's API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  target: string;
  dir: string;
  accept: { basic?: { username: string; password: string }; token?: string };
}): Promise<HttpsRegistryProxy> {
  const certificates = ensureLocalCertificates(options.dir, 'registry-proxy');
  const target = new URL(options.target);
  const accepted = new Set<string>();
  if (options.accept.basic) accepted.add(`Basic ${Buffer.from(`${options.accept.basic.username}:${options.accept.basic.password}`).toString('base64')}`);
  if (options.accept.token) accepted.add(`Bearer ${options.accept.token}`);
  const requests: HttpsRegistryProxy['requests'] = [];

  const server = https.createServer({ pfx: fs.readFileSync(certificates.keystoreFile), passphrase: certificates.keystorePassword }, (request, response) => {
    const authorized = accepted.has(request.headers.authorization ?? '');
    requests.push({ method: request.method ?? '', path: request.url ?? '', authorized });
    if (!authorized) {
      response.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry", Bearer' });
      response.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    const { authorization: _credentials, ...headers } = request.headers;
    const upstream = http.request({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: { ...headers, host: target.host } }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', (error) => {
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error_code: 502, message: error.message }));
    });
    request.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}${target.pathname.replace(/\/+$/, '')}`,
    caFile: certificates.caFile,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
