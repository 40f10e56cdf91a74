import pino from 'pino';

/**
 * Structured JSON logs. Contact details are personal data: they are redacted wherever they
 * appear in a logged object, so a log line can be shipped anywhere.
 */
export type Logger = pino.Logger;

const REDACT = [
  '*.email',
  '*.phone',
  '*.recipient',
  'event.recipient',
  'recipient',
  'email',
  'phone',
  '*.password',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
