import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { simpleParser as SimpleParser } from 'mailparser';
import type { SMTPServer, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { requireDevDependency } from './dev-dependency';

/**
 * A real SMTP server on loopback that accepts and keeps every message, for the demo and the
 * tests. It can be told to refuse mail (temporarily or permanently, for everyone or for
 * chosen recipients) to exercise delivery failures over the real protocol.
 */
export interface CapturedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  receivedAt: Date;
}

export type RefusalRule = { code: 421 | 450 | 451 | 550 | 554; recipients?: string[] };

export interface MailCatcherOptions {
  port?: number;
  host?: string;
  /** When set, each accepted message is also written there as `<n>.eml`. */
  dir?: string;
  /** Keep text and HTML bodies in `messages` (default true); off for load tests with many thousands of mails. */
  retainBodies?: boolean;
}

export class MailCatcher extends EventEmitter {
  readonly messages: CapturedMail[] = [];
  private refusal: RefusalRule | undefined;
  private acceptDelayMs = 0;
  private server: SMTPServer;
  private boundPort = 0;

  private constructor(private readonly options: MailCatcherOptions) {
    super();
    const smtp = requireDevDependency<typeof import('smtp-server')>('smtp-server', 'the SMTP mail catcher');
    this.server = new smtp.SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      size: 10 * 1024 * 1024,
      onRcptTo: (address, _session, callback) => {
        const rule = this.refusal;
        if (rule && (!rule.recipients || rule.recipients.includes(address.address.toLowerCase()))) {
          const error = new Error(`mailbox ${address.address} refused by test rule`) as Error & { responseCode: number };
          error.responseCode = rule.code;
          callback(error);
          return;
        }
        callback();
      },
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(async (mail) => {
          // A slow provider: the message counts as accepted only when the 250 reply is sent.
          if (this.acceptDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.acceptDelayMs));
          this.record(mail);
          callback();
        }, callback);
      },
    });
  }

  static async start(options: MailCatcherOptions = {}): Promise<MailCatcher> {
    const catcher = new MailCatcher(options);
    // A client that dies mid-session (a killed consumer) resets its socket; that is the
    // client's problem, not a reason for the server to stop.
    catcher.server.on('error', () => undefined);
    if (options.dir) fs.mkdirSync(options.dir, { recursive: true });
    await new Promise<void>((resolve, reject) => {
      catcher.server.once('error', reject);
      catcher.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = catcher.server.server.address();
    catcher.boundPort = typeof address === 'object' && address ? address.port : 0;
    return catcher;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.boundPort}`;
  }

  /** Refuse recipients from now on (all of them unless `recipients` is given); `undefined` accepts again. */
  refuse(rule: RefusalRule | undefined): void {
    this.refusal = rule && { ...rule, recipients: rule.recipients?.map((r) => r.toLowerCase()) };
  }

  /** Delay the reply to every message's DATA by `ms` from now on (0: answer at once), like a slow relay. */
  slowDown(ms: number): void {
    this.acceptDelayMs = ms;
  }

  to(recipient: string): CapturedMail[] {
    const wanted = recipient.toLowerCase();
    return this.messages.filter((m) => m.to.includes(wanted));
  }

  /** Resolves once `predicate` holds over the captured messages. */
  async waitFor(predicate: (messages: CapturedMail[]) => boolean, timeoutMs = 30_000): Promise<CapturedMail[]> {
    if (predicate(this.messages)) return this.messages;
    return new Promise((resolve, reject) => {
      const onMail = (): void => {
        if (predicate(this.messages)) {
          clearTimeout(timer);
          this.off('mail', onMail);
          resolve(this.messages);
        }
      };
      const timer = setTimeout(() => {
        this.off('mail', onMail);
        reject(new Error(`mail condition not met after ${timeoutMs} ms (${this.messages.length} captured)`));
      }, timeoutMs);
      this.on('mail', onMail);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<CapturedMail & { raw: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    // Without bodies to keep, only the header block is parsed: a multipart HTML body costs
    // several times more CPU than the headers, which is what benchmarks would measure instead.
    const headerEnd = this.options.retainBodies === false ? raw.indexOf('\r\n\r\n') : -1;
    const { simpleParser } = requireDevDependency<{ simpleParser: typeof SimpleParser }>('mailparser', 'the SMTP mail catcher');
    const parsed = await simpleParser(headerEnd >= 0 ? raw.subarray(0, headerEnd + 4) : raw);
    const headers: Record<string, string> = {};
    for (const line of parsed.headerLines) headers[line.key] = line.line.slice(line.key.length + 1).trim();
    const mail: CapturedMail = {
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
      subject: parsed.subject ?? '',
      text: this.options.retainBodies === false ? '' : (parsed.text ?? ''),
      html: this.options.retainBodies === false || typeof parsed.html !== 'string' ? '' : parsed.html,
      messageId: parsed.messageId ?? '',
      headers,
      receivedAt: new Date(),
    };
    return Object.assign(mail, { raw });
  }

  private record({ raw, ...mail }: CapturedMail & { raw: Buffer }): void {
    mail.receivedAt = new Date();
    this.messages.push(mail);
    if (this.options.dir) {
      fs.writeFileSync(path.join(this.options.dir, `${String(this.messages.length).padStart(6, '0')}.eml`), raw);
    }
    this.emit('mail', mail);
  }
}
