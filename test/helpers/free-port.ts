import fs from 'node:fs';
import net from 'node:net';

/**
 * The first port of the range the OS hands out for outgoing connections. A port from that
 * range, free now, can be taken by any client socket (Kafka, PostgreSQL) before the process
 * the test starts binds it; ports below it are only ever taken by listeners.
 */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : undefined;
  } catch {
    return undefined;
  }
}

async function bindable(port: number): Promise<number | undefined> {
  const server = net.createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return undefined;
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : undefined;
}

/**
 * A TCP port nothing listens on right now, for a process the test starts: chosen at random
 * below the ephemeral range where the OS has one (so no outgoing connection can take it in
 * the meantime), else picked by the OS.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let attempt = 0; low !== undefined && attempt < 50; attempt++) {
    const port = await bindable(10_000 + Math.floor(Math.random() * (low - 10_000)));
    if (port !== undefined) return port;
  }
  const port = await bindable(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}
