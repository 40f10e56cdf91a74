import type { Command } from 'commander';
import type { LocalStack, StackOptions } from '../../dev/stack';
import { ConfigError } from '../../errors';
import { devModules } from '../dev-modules';

const localStack = (options: StackOptions = {}): LocalStack => new (devModules.stack().LocalStack)(options);

/** Where each user's settings for the secure broker are (passwords stay in those files, not on the terminal). */
function printSecureCredentials(stack: LocalStack): void {
  const files = stack.secureKafkaCredentials();
  if (!files) return;
  console.log('\nSASL_SSL broker: export the settings of the user a process runs as (KAFKA_BROKERS, KAFKA_SASL_MECHANISM,');
  console.log('KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL, KAFKA_SSL_CA_FILE), e.g. set -a; . <file>; set +a');
  for (const [user, file] of Object.entries(files)) console.log(`  ${user.padEnd(17)} ${file}`);
}

/** The cluster's bootstrap list as the line a shell exports, when `dev up --brokers <n>` has set it up. */
function printClusterBrokers(stack: LocalStack): void {
  const brokers = stack.kafkaClusterBrokers();
  if (!brokers) return;
  console.log('\nKafka cluster: point a publisher, a worker or `tidings topics create` at it with');
  console.log(`  KAFKA_BROKERS=${brokers.join(',')}`);
}

/** `--brokers <n>`: 1 (the single broker alone) or the size of a cluster started beside it (the cluster checks the size). */
function parseBrokers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--brokers must be a whole number of brokers (got "${value}")`);
  return n;
}

export function registerDevCommands(program: Command): void {
  const dev = program.command('dev').description('the local stack (Kafka, schema registry, SMTP catcher and, when none answers, PostgreSQL) without Docker');

  dev
    .command('up')
    .description('start what is not running; returns when every component answers')
    .option('--secure', 'also a SASL_SSL broker (SCRAM-SHA-512 over TLS, ACLs) beside the plain one, default 127.0.0.1:9094 (TIDINGS_KAFKA_SECURE_PORT)')
    .option('--brokers <n>', 'also a KRaft cluster of n nodes (3 to 9) beside the plain broker, default 127.0.0.1:9192-9194 (TIDINGS_KAFKA_CLUSTER_PORT)', '1')
    .addHelpText(
      'after',
      `
--secure starts a second broker with its own ports and folder (.tidings/kafka-secure/): TLS
certificates from a local CA (JDK keytool), users admin (super user), auth-producer,
payment-producer and notification with generated passwords, and ACLs giving each only what it
needs. The plain broker on 9092 stays as it is. Each user's settings are written to an env file:

  $ tidings dev up --secure
  $ set -a; . .tidings/kafka-secure/env/auth-producer.env; set +a    then run a process as that user

--brokers 3 starts a three-node KRaft cluster (each node broker and controller) beside the plain
broker, in .tidings/kafka-cluster/: clients on TIDINGS_KAFKA_CLUSTER_PORT and the next two ports
(default 9192-9194), controllers on the three after. Topics get 3 replicas, min.insync.replicas=2.
See docs/cluster.md.

  $ tidings dev up --brokers 3
  $ KAFKA_BROKERS=127.0.0.1:9192,127.0.0.1:9193,127.0.0.1:9194 tidings topics create`,
    )
    .action(async (opts: { secure?: boolean; brokers: string }) => {
      const started = Date.now();
      const brokers = parseBrokers(opts.brokers);
      const stack = localStack({ progress: (line) => console.log(line) });
      await stack.up({ secure: opts.secure === true, brokers });
      console.log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (files under ${stack.home})`);
      if (opts.secure) printSecureCredentials(stack);
      if (brokers > 1) printClusterBrokers(stack);
    });

  dev
    .command('down')
    .description('stop the components this stack started')
    .action(async () => {
      const stopped = await localStack().down();
      console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
    });

  dev
    .command('status')
    .description('show each component and whether it answers')
    .action(async () => {
      const stack = localStack();
      const statuses = await stack.status();
      for (const s of statuses) {
        console.log(`${s.up ? 'up  ' : 'DOWN'}  ${s.name.padEnd(12)} ${s.endpoint}${s.managed ? '' : ' (external)'}${s.detail ? `  ${s.detail}` : ''}`);
      }
      printSecureCredentials(stack);
      printClusterBrokers(stack);
      if (statuses.some((s) => !s.up)) process.exitCode = 1;
    });

  dev
    .command('mail-catcher')
    .description('run the SMTP server that captures mail (started by `dev up`)')
    .option('--port <port>', 'port to listen on', '1025')
    .option('--dir <dir>', 'folder to save messages to as .eml')
    .action(async (opts: { port: string; dir?: string }) => {
      const { MailCatcher } = devModules.mailCatcher();
      const catcher = await MailCatcher.start({ port: Number(opts.port), dir: opts.dir });
      console.log(`SMTP catcher listening on ${catcher.url}${opts.dir ? `, saving to ${opts.dir}` : ''}`);
      const stop = (): void => {
        void catcher.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
