import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * An HTTPS agent that sends requests for chosen hosts to other plain-HTTP endpoints instead,
 * e.g. `fcm.googleapis.com` → `http://127.0.0.1:4020`. The SDK keeps building its requests
 * (URL, path, headers, body) exactly as for Google; only the TCP connection is redirected.
 * For SDKs whose hosts are fixed in code and which accept an `agent` (firebase-admin's
 * `httpAgent`, google-auth-library's transporter). Hosts not in `routes` are refused, so a
 * misconfiguration can never leak test traffic to the real service.
 */
export class HostRedirectAgent extends https.Agent {
  private readonly routes: ReadonlyMap<string, { host: string; port: number }>;

  constructor(routes: Record<string, string>) {
    super({ keepAlive: true });
    const parsed = new Map<string, { host: string; port: number }>();
    for (const [hostname, target] of Object.entries(routes)) {
      const url = new URL(target);
      if (url.protocol !== 'http:') throw new TypeError(`redirect target for ${hostname} must be an http:// URL, got ${target}`);
      parsed.set(hostname, { host: url.hostname, port: Number(url.port || 80) });
    }
    this.routes = parsed;
  }

  // The returned socket is used as is; errors surface on the request like any connect error.
  override createConnection(options: https.RequestOptions): Duplex {
    const hostname = options.hostname ?? options.host ?? '';
    const target = this.routes.get(hostname);
    if (!target) {
      const socket = new net.Socket();
      process.nextTick(() => socket.destroy(new Error(`no local endpoint configured for ${hostname}`)));
      return socket;
    }
    return net.connect(target.port, target.host);
  }
}
