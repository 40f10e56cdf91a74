import { SmtpProvider, type OutgoingEmail, type SmtpProviderOptions } from '../providers/smtp-provider';

export { redactAddress, type OutgoingEmail } from '../providers/smtp-provider';

export type SmtpMailerOptions = Pick<SmtpProviderOptions, 'url' | 'from' | 'name'>;

/**
 * The email-only API the notification handler was built on, kept as a thin face over
 * `SmtpProvider` so there is one SMTP implementation and one error classification.
 */
export class SmtpMailer {
  private readonly provider: SmtpProvider;

  constructor(options: SmtpMailerOptions) {
    this.provider = new SmtpProvider(options);
  }

  get name(): string {
    return this.provider.name;
  }

  get from(): string {
    return this.provider.from;
  }

  send(email: OutgoingEmail): Promise<{ messageId: string }> {
    return this.provider.sendEmail(email);
  }

  close(): void {
    this.provider.close();
  }
}
