import type { Command } from 'commander';
import { listEventDefinitions } from '../../events/catalog';
import type { EventType } from '../../events/generated';
import { Platform } from '../../platform';
import { subjectFor } from '../../registry/event-registry';

export function registerSchemaCommands(program: Command): void {
  const schemas = program.command('schemas').description('Avro schemas of the event contract');

  schemas
    .command('register')
    .description('register every event schema under <topic>-<record full name> with BACKWARD compatibility')
    .option('--dry-run', 'print the subjects without registering')
    .action(async (opts: { dryRun?: boolean }) => {
      const platform = new Platform();
      for (const def of listEventDefinitions()) {
        const topic = platform.topics[def.domain];
        if (opts.dryRun) {
          console.log(`would register ${subjectFor(topic, def)}`);
          continue;
        }
        const { subject, id } = await platform.registry.register(def.type as EventType, topic);
        console.log(`registered ${subject} (id ${id})`);
      }
    });

  schemas
    .command('list')
    .description('list event types with their topic, subject and record name')
    .action(() => {
      const platform = new Platform();
      for (const def of listEventDefinitions()) {
        const topic = platform.topics[def.domain];
        console.log(`${def.type.padEnd(30)} ${topic.padEnd(16)} ${subjectFor(topic, def)}`);
      }
    });

  schemas
    .command('print <type>')
    .description('print the self-contained schema of an event type, as registered')
    .action((type: string) => {
      const def = listEventDefinitions().find((d) => d.type === type);
      if (!def) throw new Error(`unknown event type "${type}"; see \`tidings schemas list\``);
      console.log(JSON.stringify(def.schema, null, 2));
    });
}
