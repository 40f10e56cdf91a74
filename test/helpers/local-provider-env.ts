import type { LocalFcm } from '../../src/dev/local-fcm';
import type { LocalTwilio } from '../../src/dev/local-twilio';

/** The provider settings that point email, SMS and push at a test's local SMTP, Twilio and FCM servers. */
export function localProviderEnv(smtpUrl: string, fcm: LocalFcm, twilio: LocalTwilio): Record<string, string> {
  return {
    SMTP_URL: smtpUrl,
    FCM_SERVICE_ACCOUNT: JSON.stringify(fcm.serviceAccount),
    FCM_BASE_URL: fcm.url,
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_FROM: '+15550001111',
    TWILIO_BASE_URL: twilio.url,
  };
}
