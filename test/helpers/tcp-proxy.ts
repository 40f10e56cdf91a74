import net from 'node:net';

/**
 * A loopback TCP proxy in front of a real server (PostgreSQL, the registry, the broker), so a
 * test can cut one client's access without stopping the shared server: `cut()` resets every
 * open connection and refuses new ones, `restore()` forwards again.
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private down = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => {
      if (!proxy || proxy.down) {
        client.resetAndDestroy();
        return;
      }
      const upstream = net.connect(target.port, target.host);
      const pair = [client, upstream];
      for (const s of pair) {
        proxy.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          proxy?.sockets.delete(s);
          for (const other of pair) if (other !== s && !other.destroyed) other.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    proxy = new TcpProxy(server, typeof address === 'object' && address ? address.port : 0);
    return proxy;
  }

  /** `url` with its host and port replaced by this proxy's. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** The outage begins: open connections are reset, new ones refused. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
