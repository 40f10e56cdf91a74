import type { Command } from 'commander';
import type { LocalStack, StackOptions } from '../../dev/stack';
import { devModules } from '../dev-modules';

const localStack = (options: StackOptions = {}): LocalStack => new (devModules.stack().LocalStack)(options);

export function registerDevCommands(program: Command): void {
  const dev = program.command('dev').description('the local stack (Kafka, schema registry, SMTP catcher and, when none answers, PostgreSQL) without Docker');

  dev
    .command('up')
    .description('start what is not running; returns when every component answers')
    .action(async () => {
      const started = Date.now();
      const stack = localStack({ progress: (line) => console.log(line) });
      await stack.up();
      console.log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (files under ${stack.home})`);
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
      const statuses = await localStack().status();
      for (const s of statuses) {
        console.log(`${s.up ? 'up  ' : 'DOWN'}  ${s.name.padEnd(9)} ${s.endpoint}${s.managed ? '' : ' (external)'}${s.detail ? `  ${s.detail}` : ''}`);
      }
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
