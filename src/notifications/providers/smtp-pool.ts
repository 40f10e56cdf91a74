/**
 * A pool of SMTP connections sending ready-built messages.
 *
 * The protocol itself is nodemailer's `SMTPConnection` (greeting, EHLO, STARTTLS, AUTH,
 * timeouts, dot-stuffing, reply parsing). What this replaces is nodemailer's transport layer
 * above it (message normalisation, plugins, a MIME tree and a stream pipeline per message,
 * its own pool): for a message that is already a buffer that layer cost about 230 µs of CPU
 * per email, twice the SMTP conversation itself (docs/performance.md, "Email path").
 *
 * Connections open on demand, up to `maxConnections`, each sending one message at a time;
 * waiting sends are served in order. A connection is replaced after
 * `maxMessagesPerConnection` messages; one the server closes or times out while idle is
 * dropped. A refusal of one message (a 4xx/5xx reply to its envelope or data) fails that
 * send only: the session is reset and the connection reused. A broken connection fails
 * the send that was on it (never re-sent here: the server may have accepted it) and, when
 * no connection is left to serve them, the sends waiting for one.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { parseConnectionUrl } from 'nodemailer/lib/shared';

export interface SmtpPoolOptions {
  /** `smtp://` or `smtps://` URL of the relay, credentials included. */
  url: string;
  maxConnections: number;
  maxMessagesPerConnection: number;
  connectTimeoutMs: number;
  socketTimeoutMs: number;
}

export interface SmtpEnvelope {
  from: string;
  to: string[];
}

interface Job {
  envelope: SmtpEnvelope;
  message: Buffer;
  resolve(info: SMTPConnection.SentMessageInfo): void;
  reject(error: unknown): void;
}

interface Pooled {
  connection: SMTPConnection;
  messages: number;
  busy: boolean;
  ready: boolean;
  closed: boolean;
}

export class SmtpPool {
  private readonly connectionOptions: SMTPConnection.Options;
  private readonly credentials: SMTPConnection.Credentials | undefined;
  /** Connected or connecting. */
  private readonly open = new Set<Pooled>();
  private readonly idle: Pooled[] = [];
  private connecting = 0;
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(private readonly options: SmtpPoolOptions) {
    const { auth, ...fromUrl } = parseConnectionUrl(options.url);
    this.connectionOptions = {
      ...fromUrl,
      connectionTimeout: options.connectTimeoutMs,
      greetingTimeout: options.connectTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
    };
    this.credentials = auth?.user ? { user: auth.user, pass: auth.pass ?? '' } : undefined;
  }

  /** Sends `message` (a whole RFC 5322 message) to `envelope.to`; resolves with the server's final reply. */
  send(envelope: SmtpEnvelope, message: Buffer): Promise<SMTPConnection.SentMessageInfo> {
    if (this.closed) return Promise.reject(new Error('the SMTP connection pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ envelope, message, resolve, reject });
      this.pump();
    });
  }

  /** Closes idle connections now and busy ones after their send; sends still waiting fail. */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the SMTP connection pool was closed before this message was sent'));
    for (const pooled of [...this.open]) if (!pooled.busy) this.discard(pooled, true);
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      const pooled = this.idle.pop();
      if (pooled) {
        this.dispatch(pooled, this.queue.shift() as Job);
        continue;
      }
      // Another connection only for sends that no connection being opened will take.
      if (this.open.size < this.options.maxConnections && this.connecting < this.queue.length) {
        this.connect();
        continue;
      }
      return;
    }
  }

  private connect(): void {
    const connection = new SMTPConnection(this.connectionOptions);
    const pooled: Pooled = { connection, messages: 0, busy: false, ready: false, closed: false };
    this.open.add(pooled);
    this.connecting++;
    connection.on('error', (error) => {
      // A send in flight gets this error through its callback; a connection being opened fails;
      // an idle one (the server closed it, or the socket timed out) is simply dropped.
      if (pooled.busy) return;
      if (!pooled.ready) this.connectFailed(pooled, error);
      else this.drop(pooled);
    });
    connection.once('end', () => this.drop(pooled));
    connection.connect((error) => {
      if (error) return this.connectFailed(pooled, error);
      const allowsAuth = (connection as SMTPConnection & { allowsAuth?: boolean }).allowsAuth === true;
      if (!this.credentials || !allowsAuth) return this.ready(pooled);
      connection.login(this.credentials, (loginError) => (loginError ? this.connectFailed(pooled, loginError) : this.ready(pooled)));
    });
  }

  private ready(pooled: Pooled): void {
    if (pooled.closed) return;
    pooled.ready = true;
    this.connecting--;
    this.release(pooled);
  }

  private connectFailed(pooled: Pooled, error: unknown): void {
    if (pooled.closed) return;
    this.discard(pooled, false);
    // With no connection left (nor being opened) the relay is unreachable: the waiting sends
    // fail now, retriable, rather than wait for a connection that may never come.
    if (this.open.size === 0) for (const job of this.queue.splice(0)) job.reject(error);
    else this.pump();
  }

  private dispatch(pooled: Pooled, job: Job): void {
    pooled.busy = true;
    pooled.connection.send(job.envelope, job.message, (error, info) => {
      pooled.busy = false;
      pooled.messages++;
      if (!error) {
        job.resolve(info);
        this.release(pooled);
        return;
      }
      job.reject(error);
      const refusedMessageOnly = (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') && error.responseCode !== 421;
      if (!refusedMessageOnly || pooled.closed) {
        this.discard(pooled, false);
        this.pump();
        return;
      }
      // The server refused this message, the session is fine: reset it and go on.
      pooled.connection.reset((resetError) => {
        if (resetError) {
          this.discard(pooled, false);
          this.pump();
        } else this.release(pooled);
      });
    });
  }

  /** A connection done with its send (or just opened) serves the next one, or is replaced when it has sent its share. */
  private release(pooled: Pooled): void {
    if (pooled.closed) return;
    if (this.closed || pooled.messages >= this.options.maxMessagesPerConnection) {
      this.discard(pooled, true);
      this.pump();
      return;
    }
    this.idle.push(pooled);
    this.pump();
  }

  private drop(pooled: Pooled): void {
    if (pooled.closed) return;
    this.discard(pooled, false);
    this.pump();
  }

  private discard(pooled: Pooled, politely: boolean): void {
    if (pooled.closed) return;
    pooled.closed = true;
    this.open.delete(pooled);
    if (!pooled.ready) this.connecting--;
    const at = this.idle.indexOf(pooled);
    if (at >= 0) this.idle.splice(at, 1);
    if (politely) pooled.connection.quit();
    else pooled.connection.close();
  }
}
