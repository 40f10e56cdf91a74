import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SmtpPool } from '../../src/notifications/providers/smtp-pool';
import { buildMime } from '../../src/notifications/email/mime';

/** A real SMTP server (the smtp-server package) counting sessions, the most at once, and messages. */
async function startServer(options: Partial<SMTPServerOptions> = {}): Promise<{ url: (auth?: string) => string; stats: { sessions: number; live: number; mostLive: number; closed: number; messages: string[] }; close(): Promise<void> }> {
  const stats = { sessions: 0, live: 0, mostLive: 0, closed: 0, messages: [] as string[] };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_session, callback) {
      stats.sessions++;
      stats.live++;
      stats.mostLive = Math.max(stats.mostLive, stats.live);
      callback();
    },
    onClose() {
      stats.live--;
      stats.closed++;
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('refused')) callback(Object.assign(new Error('no such mailbox'), { responseCode: 550 }));
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stats.messages.push(`${session.envelope.rcptTo.map((r) => r.address).join(',')}:${Buffer.concat(chunks).length}`);
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as { port: number };
  return {
    url: (auth) => `smtp://${auth ? `${auth}@` : ''}127.0.0.1:${port}`,
    stats,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function message(to: string): Buffer {
  const raw = buildMime({ from: 'Tidings <no-reply@tidings.test>', to, subject: `to ${to}`, text: 'hello', html: '<p>hello</p>', messageId: `<${to}@tidings.test>` });
  if (!raw) throw new Error('message not built');
  return raw;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const settings = { maxConnections: 3, maxMessagesPerConnection: 1_000, connectTimeoutMs: 5_000, socketTimeoutMs: 15_000 };

describe('SmtpPool against a real SMTP server', () => {
  it('sends 60 messages over at most maxConnections sessions, replacing each after maxMessagesPerConnection', async () => {
    const server = await startServer();
    const pool = new SmtpPool({ ...settings, url: server.url(), maxMessagesPerConnection: 10 });
    try {
      const infos = await Promise.all(Array.from({ length: 60 }, (_, i) => pool.send({ from: 'no-reply@tidings.test', to: [`user${i}@example.com`] }, message(`user${i}@example.com`))));
      expect(infos.every((info) => /^250/.test(info.response))).toBe(true);
      expect(new Set(server.stats.messages.map((m) => m.split(':')[0])).size).toBe(60);
      expect(server.stats.mostLive).toBeLessThanOrEqual(3);
      // 60 messages, 10 per session: at least 6 sessions, each replaced after its tenth.
      expect(server.stats.sessions).toBeGreaterThanOrEqual(6);
    } finally {
      pool.close();
      await server.close();
    }
  });

  it('a refused recipient fails that send only (with its reply code); the session is reset and reused', async () => {
    const server = await startServer();
    const pool = new SmtpPool({ ...settings, url: server.url(), maxConnections: 1 });
    try {
      await pool.send({ from: 'no-reply@tidings.test', to: ['first@example.com'] }, message('first@example.com'));
      await expect(pool.send({ from: 'no-reply@tidings.test', to: ['refused@example.com'] }, message('refused@example.com'))).rejects.toMatchObject({ responseCode: 550, command: 'RCPT TO' });
      await pool.send({ from: 'no-reply@tidings.test', to: ['after@example.com'] }, message('after@example.com'));
      expect(server.stats.messages.map((m) => m.split(':')[0])).toEqual(['first@example.com', 'after@example.com']);
      expect(server.stats.sessions).toBe(1);
    } finally {
      pool.close();
      await server.close();
    }
  });

  it('a connection the server closes while idle is dropped, and the next send opens a new one', async () => {
    const server = await startServer({ socketTimeout: 300 });
    const pool = new SmtpPool({ ...settings, url: server.url() });
    try {
      await pool.send({ from: 'no-reply@tidings.test', to: ['before@example.com'] }, message('before@example.com'));
      await until(() => server.stats.closed === 1, 'the server to close the idle session');
      await pool.send({ from: 'no-reply@tidings.test', to: ['later@example.com'] }, message('later@example.com'));
      expect(server.stats.messages.map((m) => m.split(':')[0])).toEqual(['before@example.com', 'later@example.com']);
      expect(server.stats.sessions).toBe(2);
    } finally {
      pool.close();
      await server.close();
    }
  });

  it('logs in with the credentials in the URL; a wrong password fails the send with the server reply, and waiting sends too', async () => {
    const server = await startServer({
      authOptional: false,
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, callback) {
        if (auth.username === 'relay' && auth.password === 's3cret') callback(null, { user: 'relay' });
        else callback(Object.assign(new Error('invalid credentials'), { responseCode: 535 }));
      },
    });
    const good = new SmtpPool({ ...settings, url: server.url('relay:s3cret') });
    const bad = new SmtpPool({ ...settings, url: server.url('relay:wrong'), maxConnections: 1 });
    try {
      await good.send({ from: 'no-reply@tidings.test', to: ['authed@example.com'] }, message('authed@example.com'));
      expect(server.stats.messages.map((m) => m.split(':')[0])).toEqual(['authed@example.com']);
      const refused = [1, 2, 3].map((i) => bad.send({ from: 'no-reply@tidings.test', to: [`x${i}@example.com`] }, message(`x${i}@example.com`)));
      for (const send of refused) await expect(send).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 });
      expect(server.stats.messages).toHaveLength(1);
    } finally {
      good.close();
      bad.close();
      await server.close();
    }
  });

  it('close() fails the sends still waiting for a connection, and refuses new ones', async () => {
    const server = await startServer();
    const pool = new SmtpPool({ ...settings, url: server.url(), maxConnections: 1 });
    try {
      const sends = Array.from({ length: 5 }, (_, i) => pool.send({ from: 'no-reply@tidings.test', to: [`q${i}@example.com`] }, message(`q${i}@example.com`)).then(() => 'sent', (e: Error) => e.message));
      pool.close();
      const outcomes = await Promise.all(sends);
      expect(outcomes.filter((o) => o !== 'sent').every((o) => /closed before this message was sent/.test(o))).toBe(true);
      expect(outcomes.filter((o) => o === 'sent')).toHaveLength(server.stats.messages.length);
      await expect(pool.send({ from: 'no-reply@tidings.test', to: ['late@example.com'] }, message('late@example.com'))).rejects.toThrow(/closed/);
    } finally {
      await server.close();
    }
  });
});
