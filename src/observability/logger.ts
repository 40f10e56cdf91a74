import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import pino from 'pino';
import { REDACTED, REDACTED_PATHS, scrubLogObject, scrubText } from './redaction';

/**
 * Structured JSON logs. Contact details and card data are personal data: named fields are
 * redacted wherever they appear in a logged object, and e-mail addresses, phone numbers and
 * card numbers are masked inside any logged text (messages, error text), so a log line can be
 * shipped anywhere. A line written inside an OpenTelemetry span carries `trace_id` and
 * `span_id`, so a log search can jump to the trace.
 */
export type Logger = pino.Logger;

let destination: pino.DestinationStream | undefined;

/**
 * Sends the logs of loggers created from now on to stderr. The CLI does this for commands
 * whose stdout is their result (`--json`, tables), so a script reads the result alone; worker
 * commands (`tidings run`, `api`) keep logging to stdout.
 */
export function logToStderr(): void {
  destination ??= pino.destination({ dest: 2, sync: true });
}

/** The active span's ids; a fresh object each time, as pino merges the line's fields into it. */
function traceFields(): Record<string, string> {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

/** A logger named `name`; `stream` (for tests) overrides where lines go. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', stream: pino.DestinationStream | undefined = destination): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    mixin: traceFields,
    formatters: { log: scrubLogObject },
    serializers: { msg: (message: unknown) => (typeof message === 'string' ? scrubText(message) : message) },
    redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
  };
  return stream ? pino(options, stream) : pino(options);
}
