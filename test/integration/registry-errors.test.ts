import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { resolveEndpoints } from '../../src/config/env';
import { ConfigError, MalformedMessageError, RegistryError } from '../../src/errors';
import { getEventDefinition } from '../../src/events/catalog';
import { sampleEvent } from '../../src/events/samples';
import { EventRegistry, frame, subjectFor, type EventRegistryOptions } from '../../src/registry/event-registry';
import { TcpProxy } from '../helpers/tcp-proxy';

const url = resolveEndpoints().schemaRegistryUrl;
const fast = { maxAttempts: 2, initialMs: 20, maxMs: 50 };

/** A record in the wire format that names `schemaId`, with a valid PaymentSucceeded body. */
function recordWithSchemaId(schemaId: number): Buffer {
  return Buffer.from(frame(schemaId, getEventDefinition('PAYMENT_SUCCEEDED').avroType, sampleEvent('PAYMENT_SUCCEEDED')));
}

async function failureOf(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('registry failures are classified by status and error code', () => {
  it('a schema id the registry does not know (404, error 40403) makes the record malformed', async () => {
    const registry = new EventRegistry({ url });
    const error = await failureOf(registry.decode(recordWithSchemaId(2_000_000_123)));
    expect(error).toBeInstanceOf(MalformedMessageError);
    expect((error as Error).message).toMatch(/schema id 2000000123 is unknown/);
  });

  it('a 404 that is not the registry speaking (a wrong base path) is a registry error, not a malformed record', async () => {
    const registry = new EventRegistry({ url: url.replace(/\/v7$/, '/v9'), retry: fast });
    const error = await failureOf(registry.decode(recordWithSchemaId(1)));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).not.toBeInstanceOf(MalformedMessageError);
    expect(error).toMatchObject({ status: 404, errorCode: undefined, retriable: false });
  });

  it('a registry that resets connections is a retriable registry error, logged on each retry, and decoding works once it is back', async () => {
    const target = new URL(url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) });
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    try {
      const direct = new EventRegistry({ url });
      const topic = `t${Date.now().toString(36)}.payment.events`;
      const { id } = await direct.register('PAYMENT_SUCCEEDED', topic);
      try {
        const registry = new EventRegistry({ url: proxy.via(url), retry: { maxAttempts: 3, initialMs: 20, maxMs: 50 }, logger });
        proxy.cut();
        const error = await failureOf(registry.decode(recordWithSchemaId(id)));
        expect(error).toBeInstanceOf(RegistryError);
        expect(error).not.toBeInstanceOf(MalformedMessageError);
        expect(error).toMatchObject({ retriable: true, status: undefined });
        expect(lines.filter((l) => l.includes('registry call failed; retrying'))).toHaveLength(2);

        proxy.restore();
        await expect(registry.decode(recordWithSchemaId(id))).resolves.toMatchObject({ schemaId: id });
      } finally {
        await direct.deleteSubject('PAYMENT_SUCCEEDED', topic);
      }
    } finally {
      await proxy.close();
    }
  });

  it('a 5xx answer is a retriable registry error, retried before it is thrown', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    const registry = new EventRegistry({ url, retry: { maxAttempts: 3, initialMs: 20, maxMs: 50 }, logger });
    // Apicurio's database refuses a NUL in a subject name, and the registry answers 500.
    const error = await failureOf(registry.findSchemaId('\u0000', { type: 'string' }));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ status: 500, retriable: true });
    expect(lines.filter((l) => l.includes('registry call failed; retrying'))).toHaveLength(2);
  });

  it('a registry port nobody listens on (connection refused) is a retriable registry error', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const registry = new EventRegistry({ url: `http://127.0.0.1:${port}/apis/ccompat/v7`, retry: fast });
    const error = await failureOf(registry.decode(recordWithSchemaId(1)));
    expect(error).toMatchObject({ retriable: true, status: undefined });
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    expect(await failureOf(registry.schemaId('PAYMENT_SUCCEEDED', 'payment.events'))).toMatchObject({ retriable: true });
  });

  it('a registry that accepts the connection and never answers times out as a retriable registry error', async () => {
    const silent = new Set<net.Socket>();
    const server = net.createServer((socket) => silent.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const registry = new EventRegistry({ url: `http://127.0.0.1:${port}/apis/ccompat/v7`, requestTimeoutMs: 300, retry: fast });
      const started = Date.now();
      const error = await failureOf(registry.decode(recordWithSchemaId(1)));
      expect(error).toBeInstanceOf(RegistryError);
      expect(error).toMatchObject({ retriable: true, status: undefined });
      expect((error as Error).message).toMatch(/timeout/i);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const socket of silent) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a schema that is not registered under its subject is a non-retriable registry error telling what to run', async () => {
    const registry = new EventRegistry({ url });
    const topic = `t${Date.now().toString(36)}-never.payment.events`;
    const error = await failureOf(registry.schemaId('PAYMENT_SUCCEEDED', topic));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ retriable: false });
    expect((error as Error).message).toContain(`"${subjectFor(topic, getEventDefinition('PAYMENT_SUCCEEDED'))}"; run \`tidings schemas register\``);
  });
});

describe('registry options', () => {
  it.each<[string, Partial<EventRegistryOptions>, RegExp]>([
    ['a url that is not a URL', { url: 'registry:8081' }, /^invalid schema registry options: url must be an http\(s\) URL/],
    ['an unknown compatibility', { compatibility: 'SOMETIMES' as EventRegistryOptions['compatibility'] }, /compatibility/],
    ['a timeout past what setTimeout can wait', { requestTimeoutMs: 2 ** 31 }, /requestTimeoutMs/],
    ['zero attempts', { retry: { maxAttempts: 0, initialMs: 10, maxMs: 10 } }, /retry\.maxAttempts/],
  ])('refuses %s, naming the option', (_what, options, message) => {
    expect(() => new EventRegistry({ url, ...options })).toThrow(ConfigError);
    expect(() => new EventRegistry({ url, ...options })).toThrow(message);
  });
});

describe("a record's type from its schema id", () => {
  it('is answered without a promise once typeOf has read the schema id, and a value that is no frame is malformed either way', async () => {
    const registry = new EventRegistry({ url, autoRegister: true });
    const schemaId = await registry.schemaId('PAYMENT_SUCCEEDED', `typeof-${process.pid}.payment.events`);
    const record = recordWithSchemaId(schemaId);
    expect(registry.knownTypeOf(record)).toBeUndefined();
    await expect(registry.typeOf(record)).resolves.toBe('PAYMENT_SUCCEEDED');
    expect(registry.knownTypeOf(record)).toBe('PAYMENT_SUCCEEDED');
    expect(() => registry.knownTypeOf(Buffer.from([1, 0, 0, 0, 1, 2]))).toThrow(/unknown magic byte 1/);
    expect(() => registry.knownTypeOf(null)).toThrow(MalformedMessageError);
  });
});
