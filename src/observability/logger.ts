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

let destination: pino.DestinationStream | undefined;

/**
 * Sends the logs of loggers created from now on to stderr. The CLI does this for commands
 * whose stdout is their result (`--json`, tables), so a script reads the result alone; worker
 * commands (`tidings run`, `api`) keep logging to stdout.
 */
export function logToStderr(): void {
  destination ??= pino.destination({ dest: 2, sync: true });
}

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
