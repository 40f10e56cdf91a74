import { LOCAL_DEFAULTS, readEnv, type Env } from '../../config/env';
import { createLogger, type Logger } from '../../observability/logger';
import type { ChannelName, Provider } from '../channels/channel';
import type { CircuitBreakerOptions } from './circuit-breaker';
import type { DeviceTokens } from './device-tokens';
import { FailoverProvider } from './failover';
import { FcmPushProvider, loadServiceAccount } from './fcm-push';
import { SmtpProvider } from './smtp-provider';
import { TwilioSmsProvider } from './twilio-sms';

export type ProviderChannel = Exclude<ChannelName, 'in_app'>;

export interface ChannelProviders {
  /** One failover provider per enabled channel. */
  channels: Partial<Record<ProviderChannel, FailoverProvider>>;
  /** Channels left out, with the reason that was logged. */
  disabled: Partial<Record<ProviderChannel, string>>;
  close(): Promise<void>;
}

export interface ProvidersFromEnvOptions {
  /** Default: `readEnv()` (process.env, validated). */
  env?: Env;
  /** When given, push tokens FCM calls unregistered are marked dead there and skipped later. */
  deviceTokens?: DeviceTokens;
  circuit?: CircuitBreakerOptions;
  logger?: Logger;
}

/**
 * The email channel from the environment: SMTP_URL as `smtp-primary`, then SMTP_BACKUP_URL as
 * `smtp-backup` when set, behind failover with a circuit breaker each. Every email Tidings
 * sends (event notifications, renewal reminders, daily digests) goes through a channel built here.
 */
export function createEmailChannel(options: Omit<ProvidersFromEnvOptions, 'deviceTokens'> = {}): FailoverProvider {
  const env = options.env ?? readEnv();
  const logger = options.logger ?? createLogger('providers');
  const providers: Provider[] = [new SmtpProvider({ name: 'smtp-primary', url: env.SMTP_URL ?? LOCAL_DEFAULTS.smtpUrl, from: env.MAIL_FROM })];
  if (env.SMTP_BACKUP_URL) providers.push(new SmtpProvider({ name: 'smtp-backup', url: env.SMTP_BACKUP_URL, from: env.MAIL_FROM }));
  logger.info({ channel: 'email', providers: providers.map((p) => p.name) }, 'email channel enabled');
  return new FailoverProvider({ channel: 'email', providers, circuit: options.circuit, logger });
}

/**
 * Builds each channel's providers from the environment: primary then backup, behind one
 * FailoverProvider per channel. Missing credentials disable that channel with one log line;
 * malformed ones throw ConfigError (from readEnv, or naming the bad setting).
 */
export function createProvidersFromEnv(options: ProvidersFromEnvOptions = {}): ChannelProviders {
  const env = options.env ?? readEnv();
  const logger = options.logger ?? createLogger('providers');
  const channels: ChannelProviders['channels'] = {};
  const disabled: ChannelProviders['disabled'] = {};
  const enable = (channel: ProviderChannel, providers: Provider[], extra: { deviceTokens?: DeviceTokens } = {}): void => {
    channels[channel] = new FailoverProvider({ channel, providers, circuit: options.circuit, deadRecipients: extra.deviceTokens, logger });
    logger.info({ channel, providers: providers.map((p) => p.name) }, `${channel} channel enabled`);
  };
  const disable = (channel: ProviderChannel, reason: string): void => {
    disabled[channel] = reason;
    logger.warn({ channel }, `${channel} channel disabled: ${reason}`);
  };

  channels.email = createEmailChannel({ env, circuit: options.circuit, logger });

  const primary = twilioAccount(env, 'TWILIO');
  if ('missing' in primary) {
    disable('sms', `${primary.missing.join(', ')} not set`);
  } else {
    const sms: Provider[] = [new TwilioSmsProvider({ name: 'twilio-primary', ...primary })];
    const backup = twilioAccount(env, 'TWILIO_BACKUP');
    if (!('missing' in backup)) sms.push(new TwilioSmsProvider({ name: 'twilio-backup', ...backup }));
    else if (backup.missing.length < 3) logger.warn({ channel: 'sms' }, `sms backup provider disabled: ${backup.missing.join(', ')} not set`);
    enable('sms', sms);
  }

  if (!env.FCM_SERVICE_ACCOUNT) {
    disable('push', 'FCM_SERVICE_ACCOUNT is not set');
  } else {
    const serviceAccount = loadServiceAccount(env.FCM_SERVICE_ACCOUNT);
    enable('push', [new FcmPushProvider({ name: 'fcm', serviceAccount, baseUrl: env.FCM_BASE_URL })], { deviceTokens: options.deviceTokens });
  }

  return {
    channels,
    disabled,
    async close() {
      await Promise.all(Object.values(channels).map((c) => c.close()));
    },
  };
}

interface TwilioAccount {
  accountSid: string;
  authToken: string;
  from: string;
  baseUrl?: string;
}

/** The Twilio settings under `prefix`, or the names of those that are not set. */
function twilioAccount(env: Env, prefix: 'TWILIO' | 'TWILIO_BACKUP'): TwilioAccount | { missing: string[] } {
  const accountSid = env[`${prefix}_ACCOUNT_SID`];
  const authToken = env[`${prefix}_AUTH_TOKEN`];
  const from = env[`${prefix}_FROM`];
  if (accountSid && authToken && from) return { accountSid, authToken, from, baseUrl: env[`${prefix}_BASE_URL`] };
  const settings: Array<[string, string | undefined]> = [
    [`${prefix}_ACCOUNT_SID`, accountSid],
    [`${prefix}_AUTH_TOKEN`, authToken],
    [`${prefix}_FROM`, from],
  ];
  return { missing: settings.filter(([, v]) => !v).map(([k]) => k) };
}
