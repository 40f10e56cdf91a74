import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { resolveEndpoints, readEnv } from '../../config/env';
import { ConfigError, RegistryError, TidingsError, describe } from '../../errors';
import { listEventDefinitions } from '../../events/catalog';
import { loadSchemaSources } from '../../events/schema-source';
import { Platform } from '../../platform';
import { subjectFor } from '../../registry/event-registry';

interface ContractOptions {
  dir?: string;
  topicPrefix?: string;
}

interface SubjectSchema {
  subject: string;
  schema: object;
}

/** The platform of a schemas command: `--topic-prefix` overrides TIDINGS_TOPIC_PREFIX and is validated alike. */
function platformFor(opts: ContractOptions): Platform {
  const env = readEnv(opts.topicPrefix === undefined ? process.env : { ...process.env, TIDINGS_TOPIC_PREFIX: opts.topicPrefix });
  return new Platform({ endpoints: resolveEndpoints(env) });
}

/** Each event schema of the contract in `dir` (laid out like `schemas/`), or of this build, with its subject. */
function contract(platform: Platform, dir: string | undefined): SubjectSchema[] {
  const sources = dir === undefined ? listEventDefinitions() : loadSchemaSources(path.resolve(dir)).events;
  return sources.map((s) => ({ subject: subjectFor(platform.topics[s.domain], s), schema: s.schema }));
}

const DIR_HELP = 'a contract directory laid out like schemas/ (common/, auth/, payment/), e.g. the next version of the contract; default: the schemas of this build';

export function registerSchemaCommands(program: Command): void {
  const schemas = program.command('schemas').description('Avro schemas of the event contract');

  schemas
    .command('register')
    .description('register every event schema under <topic>-<record full name> with BACKWARD compatibility; an incompatible schema is refused with the registry\'s reason and nothing is registered')
    .option('--dir <dir>', DIR_HELP)
    .option('--topic-prefix <prefix>', 'prefix of every topic name (overrides TIDINGS_TOPIC_PREFIX)')
    .option('--dry-run', 'print the subjects without registering')
    .addHelpText('after', '\nExamples:\n  $ tidings schemas register\n  $ tidings schemas check --dir ./contract-v2 && tidings schemas register --dir ./contract-v2')
    .action(async (opts: ContractOptions & { dryRun?: boolean }) => {
      const platform = platformFor(opts);
      const entries = contract(platform, opts.dir);
      if (opts.dryRun) {
        for (const { subject } of entries) console.log(`would register ${subject}`);
        return;
      }
      // The registry gives its reason only when it refuses a registration (a refusal changes
      // nothing). So the schemas it finds incompatible are submitted first: the first refusal
      // ends the run before any other schema of the contract is registered.
      const incompatible: SubjectSchema[] = [];
      const compatible: SubjectSchema[] = [];
      for (const entry of entries) {
        const verdict = await platform.registry.checkCompatibility(entry.subject, entry.schema);
        (verdict.compatible ? compatible : incompatible).push(entry);
      }
      let registered = 0;
      for (const { subject, schema } of [...incompatible, ...compatible]) {
        try {
          const { id } = await platform.registry.registerSchema(subject, schema);
          console.log(`registered ${subject} (id ${id})`);
          registered++;
        } catch (error) {
          if (!(error instanceof TidingsError)) throw error;
          const done = registered === 0 ? 'nothing was registered' : `${registered} of ${entries.length} subjects were registered before it`;
          throw new RegistryError(`${describe(error)}\n${done}`, { retriable: error.retriable, cause: error });
        }
      }
    });

  schemas
    .command('check')
    .description('report, without registering anything, whether each event schema is already registered, would be accepted as a new version, or is incompatible with the latest version of its subject')
    .option('--dir <dir>', DIR_HELP)
    .option('--topic-prefix <prefix>', 'prefix of every topic name (overrides TIDINGS_TOPIC_PREFIX)')
    .addHelpText('after', '\nExample:\n  $ tidings schemas check --dir ./contract-v2     exits 1 if a schema is incompatible')
    .action(async (opts: ContractOptions) => {
      const platform = platformFor(opts);
      const refused: string[] = [];
      for (const { subject, schema } of contract(platform, opts.dir)) {
        const id = await platform.registry.findSchemaId(subject, schema);
        if (id !== undefined) {
          console.log(`${subject}: registered (id ${id})`);
          continue;
        }
        const verdict = await platform.registry.checkCompatibility(subject, schema);
        if (verdict.compatible) {
          console.log(`${subject}: compatible, would be registered`);
        } else {
          refused.push(subject);
          console.log(`${subject}: INCOMPATIBLE with its latest version${verdict.reasons.length > 0 ? `: ${verdict.reasons.join('; ')}` : ''}`);
        }
      }
      if (refused.length > 0) {
        throw new RegistryError(`${refused.length} schema(s) incompatible with the latest registered version: ${refused.join(', ')}; \`tidings schemas register\` shows the registry's reason`, { retriable: false });
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
    .command('print [types...]')
    .description('print the self-contained schema of event types, as registered (common types inlined), for services in other languages')
    .option('--all', 'every event type')
    .option('--out <dir>', 'write one <EVENT_TYPE>.avsc file per event type into this folder instead of printing')
    .addHelpText('after', '\nExamples:\n  $ tidings schemas print USER_REGISTERED\n  $ tidings schemas print --all --out ./avro     one .avsc per event type\n\nThe source files of the contract ship in the package too: node_modules/tidings/schemas/.')
    .action((types: string[], opts: { all?: boolean; out?: string }) => {
      const definitions = listEventDefinitions();
      if (opts.all && types.length) throw new ConfigError('name event types or pass --all, not both');
      if (!opts.all && !types.length) throw new ConfigError('name an event type (see `tidings schemas list`) or pass --all');
      const unknown = types.filter((t) => !definitions.some((d) => d.type === t));
      if (unknown.length) throw new ConfigError(`unknown event type(s): ${unknown.join(', ')}; see \`tidings schemas list\``);
      const chosen = opts.all ? definitions : definitions.filter((d) => types.includes(d.type));
      if (opts.out === undefined) {
        // One schema prints as itself; several print as a JSON array, in catalog order.
        console.log(JSON.stringify(chosen.length === 1 ? chosen[0]?.schema : chosen.map((d) => d.schema), null, 2));
        return;
      }
      const dir = path.resolve(opts.out);
      fs.mkdirSync(dir, { recursive: true });
      for (const def of chosen) fs.writeFileSync(path.join(dir, `${def.type}.avsc`), `${JSON.stringify(def.schema, null, 2)}\n`);
      console.log(`wrote ${chosen.length} schema(s) to ${dir}`);
    });
}
