import net from 'node:net';
import type { Admin, Kafka } from 'kafkajs';
import { BrokerUnreachableError, isConnectionFailure } from './admin-errors';

const PROBE_TIMEOUT_MS = 3_000;

/** Whether a TCP connection to `broker` (`host:port`) opens within the timeout. */
function accepts(broker: string, timeoutMs: number): Promise<boolean> {
  const at = broker.lastIndexOf(':');
  const host = broker.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(broker.slice(at + 1));
  if (at < 0 || !Number.isInteger(port)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Runs `work` with a connected admin client. kafkajs retries a broker that refuses connections
 * for about 25 s before it gives up; an operator gets the answer within a few seconds instead:
 * when no broker accepts a TCP connection, BrokerUnreachableError is thrown before kafkajs is
 * asked. A connection failure later on is reported the same way.
 */
export async function withAdmin<T>(kafka: Kafka, brokers: readonly string[], work: (admin: Admin) => Promise<T>): Promise<T> {
  const reachable = await Promise.all(brokers.map((b) => accepts(b, PROBE_TIMEOUT_MS)));
  if (!reachable.some(Boolean)) throw new BrokerUnreachableError(brokers, new Error('connection refused or timed out'));
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await work(admin);
  } catch (error) {
    if (isConnectionFailure(error)) throw new BrokerUnreachableError(brokers, error);
    throw error;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
