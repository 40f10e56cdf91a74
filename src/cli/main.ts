import { Command } from 'commander';
import { registerApiCommand } from './commands/api';
import { registerApiKeyCommands } from './commands/apikeys';
import { registerDemoCommand } from './commands/demo';
import { registerDevCommands } from './commands/dev';
import { registerDlqCommands } from './commands/dlq';
import { registerGroupCommands } from './commands/groups';
import { registerGdprCommands } from './commands/gdpr';
import { registerLagCommand } from './commands/lag';
import { registerMigrateCommand } from './commands/migrate';
import { registerOffsetCommands } from './commands/offsets';
import { registerOutboxCommands } from './commands/outbox';
import { registerPruneCommand } from './commands/prune';
import { registerReplayCommands } from './commands/replay';
import { registerRunCommand } from './commands/run';
import { registerSchemaCommands } from './commands/schemas';
import { registerTemplateCommands } from './commands/templates';
import { registerTopicCommands } from './commands/topics';
import { logToStderr } from '../observability/logger';
import { startTelemetry, type Telemetry } from '../observability/telemetry-sdk';
import { installFaultHookFromEnv } from './fault-hook';

export function buildProgram(): Command {
  const program = new Command('tidings')
    .description('Tidings: account and payment notifications on Apache Kafka')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  $ tidings dev up                 start Kafka, the schema registry and an SMTP catcher locally
  $ tidings migrate                create or update the PostgreSQL tables
  $ tidings schemas register       register every event schema (subject <topic>-<record>)
  $ tidings topics create          create auth.events and payment.events
  $ tidings run notification       run the notification consumer group
  $ tidings prune --dry-run        count the operational rows past their retention
  $ tidings templates check --dir ./my-templates   check email templates before deploying them
  $ tidings demo --once            all of the above plus sample traffic, then a summary

Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL, SMTP_URL, MAIL_FROM, TIDINGS_EMAIL_TEMPLATES, LOG_LEVEL;
  OTEL_EXPORTER_OTLP_ENDPOINT (traces of run, api and demo over OTLP/HTTP), OTEL_SERVICE_NAME.`,
    );
  registerDevCommands(program);
  registerMigrateCommand(program);
  registerSchemaCommands(program);
  registerTopicCommands(program);
  registerTemplateCommands(program);
  registerRunCommand(program);
  registerPruneCommand(program);
  registerDlqCommands(program);
  registerReplayCommands(program);
  registerDemoCommand(program);
  registerApiCommand(program);
  registerApiKeyCommands(program);
  registerLagCommand(program);
  registerGroupCommands(program);
  registerOffsetCommands(program);
  registerOutboxCommands(program);
  registerGdprCommands(program);
  return program;
}

/**
 * kafkajs 2.2.4 arms a timer with a negative delay after a request completes
 * (tulios/kafkajs#1751, unfixed upstream); Node 24 and later print a TimeoutNegativeWarning for
 * it, once per process. The delay is clamped to 1 ms and nothing is wrong, so the `tidings`
 * command leaves that warning out; every other warning is printed as usual. (A service using
 * the SDK on Node 24+ can pass `--disable-warning=TimeoutNegativeWarning` to node.)
 */
function omitKafkajsNegativeTimeoutWarning(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = warning instanceof Error ? warning.name : typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'TimeoutNegativeWarning') return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Commands that run until stopped and log as they go, to stdout; every other command's stdout is its result. */
const WORKER_COMMANDS = new Set(['run', 'api', 'demo', 'dev']);

/** Commands whose work is traced (OpenTelemetry SDK registered when OTEL_EXPORTER_OTLP_ENDPOINT is set). */
const TRACED_COMMANDS = new Set(['run', 'api', 'demo']);

export async function main(argv: string[]): Promise<void> {
  omitKafkajsNegativeTimeoutWarning();
  const command = argv[2];
  if (command !== undefined && !WORKER_COMMANDS.has(command)) logToStderr();
  installFaultHookFromEnv(process.env.TIDINGS_FAULT);
  let telemetry: Telemetry | undefined;
  const program = buildProgram().hook('preAction', (root, action) => {
    if (action.parent !== root || !TRACED_COMMANDS.has(action.name())) return;
    // `tidings run notification` reports as tidings-notification, unless OTEL_SERVICE_NAME says otherwise.
    const serviceName = action.name() === 'run' ? `tidings-${action.args[0] ?? 'worker'}` : `tidings-${action.name()}`;
    telemetry = startTelemetry({ serviceName, capture: action.opts<{ otelConsole?: boolean }>().otelConsole === true });
  });
  try {
    await program.parseAsync(argv);
  } finally {
    // The spans of the last seconds are exported before the process ends.
    await telemetry?.shutdown();
  }
}
