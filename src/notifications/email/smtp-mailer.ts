import nodemailer, { type Transporter } from 'nodemailer';
import { ProviderError, describe } from '../../errors';

export interface OutgoingEmail {
  to: string;
  subject: string;
  html: string;
  text: string;
  headers?: Record<string, string>;
  /**
   * A Message-ID derived from the notification, so the copy sent again after a crash in the
   * accept→ledger window carries the same id and mail systems can discard it.
   */
  messageId?: string;
}

export interface SmtpMailerOptions {
  url: string;
  from: string;
  /** Name used in the delivery ledger. Default "smtp". */
  name?: string;
}

/**
 * Email through nodemailer over SMTP with a pooled connection. SMTP answers are classified:
 * 4xx replies and connection problems may succeed later (retriable), 5xx replies will not.
 */
export class SmtpMailer {
  readonly name: string;
  private readonly transport: Transporter;

  constructor(private readonly options: SmtpMailerOptions) {
    this.name = options.name ?? 'smtp';
    this.transport = nodemailer.createTransport({
      url: options.url,
      pool: true,
      maxConnections: 4,
      connectionTimeout: 5_000,
      greetingTimeout: 5_000,
      socketTimeout: 15_000,
    });
  }

  get from(): string {
    return this.options.from;
  }

  async send(email: OutgoingEmail): Promise<{ messageId: string }> {
    try {
      const info = (await this.transport.sendMail({
        from: this.options.from,
        to: email.to,
        subject: email.subject,
        html: email.html,
        text: email.text,
        headers: email.headers,
        messageId: email.messageId,
      })) as { messageId: string };
      return { messageId: info.messageId };
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      const retriable = code === undefined || (code >= 400 && code < 500);
      throw new ProviderError(this.name, `sending to ${redactAddress(email.to)} failed: ${describe(error)}`, { retriable, cause: error });
    }
  }

  close(): void {
    this.transport.close();
  }
}

/** `ada@example.com` → `a***@example.com`, for errors that end up in logs and ledgers. */
export function redactAddress(address: string): string {
  const at = address.indexOf('@');
  return at > 0 ? `${address[0]}***${address.slice(at)}` : '***';
}
