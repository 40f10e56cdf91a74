/**
 * `npm run bench`: runs the scenarios in bench/scenarios, prints a table of ratios against
 * baselines measured in the same run and writes bench/results/latest.{json,md}.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { KAFKA_VERSION } from '../src/dev/kafka-server';
import { APICURIO_VERSION } from '../src/dev/registry-server';
import { describe } from '../src/errors';
import { openBenchStack, type BenchStack } from './harness/bench-stack';
import { buildRows, textTable, writeResults, type RunInfo, type ScenarioOutcome } from './harness/report';
import type { BenchContext } from './harness/scenario';
import { SCENARIOS } from './scenarios';

const DEFAULT_EVENTS = 100_000;
const QUICK_EVENTS = 20_000;
/** At least three, so the median means something (DESIGN.md). */
const DEFAULT_ROUNDS = 3;
const RESULTS_DIR = path.join(__dirname, 'results');
/** A stuck publish must fail its scenario with a message, not hang the run (and the machine's CI). */
const SCENARIO_DEADLINE_MS = 5 * 60_000;

interface CliOptions {
  only?: string[];
  events?: number;
  quick?: boolean;
  rounds?: number;
  scalingSizes?: number[];
}

function positiveInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function scenarioNames(value: string): string[] {
  const names = value.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
  return names;
}

function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout.trim();
  return dirty ? `${head}+changes` : head;
}

/** The servers the run measured against, with their versions, for the results' machine line. */
async function serversOf(stack: Promise<BenchStack> | undefined, outcomes: ScenarioOutcome[]): Promise<string[]> {
  const opened = await stack?.catch(() => undefined);
  if (!opened) return [];
  const servers = [`Kafka ${KAFKA_VERSION} (one KRaft broker)`, `Apicurio Registry ${APICURIO_VERSION}`];
  const pg = await opened.platform.db
    .raw<{ rows: Array<{ server_version: string }> }>('SHOW server_version')
    .then((r) => `PostgreSQL ${r.rows[0]?.server_version.split(' ')[0] ?? '?'}`)
    .catch(() => 'PostgreSQL');
  servers.push(pg);
  if (outcomes.some((o) => o.scenario.name === 'email-path' || o.scenario.name === 'priority-lane')) servers.push("Postfix's smtp-sink (Debian postfix package)");
  return servers;
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('bench')
    .description('Tidings benchmarks: each number is shown as a ratio to a baseline measured in the same run.')
    .option('--only <names>', `comma-separated scenarios to run (${SCENARIOS.map((s) => s.name).join(', ')})`, scenarioNames)
    .option('--events <n>', `events per measurement (default ${DEFAULT_EVENTS}, ${QUICK_EVENTS} with --quick)`, positiveInt)
    .option('--rounds <n>', `timed rounds per measurement, reported as median with min and max (default ${DEFAULT_ROUNDS}, 1 with --quick)`, positiveInt)
    .option('--scaling-sizes <list>', 'backlog sizes of the scaling scenario, comma-separated (default 10000,100000,1000000)', (v) => v.split(',').map(positiveInt))
    .option('--quick', 'smoke run: fewer events, one round; results go to bench/results/partial.*')
    .addHelpText(
      'after',
      ['', 'Examples:', '  npm run bench', '  npm run bench -- --only publish,kafka-java-ceiling', '  npm run bench -- --quick'].join('\n'),
    );
  program.parse(argv);
  const opts = program.opts<CliOptions>();

  const quick = opts.quick ?? false;
  const events = opts.events ?? (quick ? QUICK_EVENTS : DEFAULT_EVENTS);
  const rounds = opts.rounds ?? (quick ? 1 : DEFAULT_ROUNDS);
  const selected = opts.only ? SCENARIOS.filter((s) => opts.only?.includes(s.name)) : [...SCENARIOS];
  // Only a full default run is worth comparing across commits; anything else is a smoke run.
  const isFullRun = !opts.only && !quick && events === DEFAULT_EVENTS && rounds >= DEFAULT_ROUNDS && !opts.scalingSizes;

  const progress = (line: string): void => console.log(line);
  let stack: Promise<BenchStack> | undefined;
  const ctx: BenchContext = {
    events,
    quick,
    rounds,
    scalingSizes: opts.scalingSizes,
    progress,
    stack: () => (stack ??= openBenchStack(progress)),
  };
  const cleanUp = async (): Promise<void> => {
    if (!stack) return;
    const opened = await stack.catch(() => undefined);
    stack = undefined;
    await opened?.dispose().catch((error: unknown) => console.error(`cleaning up bench topics failed: ${describe(error)}`));
  };
  process.once('SIGINT', () => {
    void cleanUp().finally(() => process.exit(130));
  });

  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const outcomes: ScenarioOutcome[] = [];
  let servers: string[] = [];
  try {
    for (const scenario of selected) {
      progress(`▶ ${scenario.name}: ${scenario.description}`);
      const start = process.hrtime.bigint();
      const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
      try {
        const result = await withDeadline(scenario.run(ctx), scenario.deadlineMs ?? SCENARIO_DEADLINE_MS, scenario.name);
        outcomes.push({ scenario, result, durationS: elapsed() });
      } catch (error) {
        progress(`✗ ${scenario.name}: ${describe(error)}`);
        outcomes.push({ scenario, error: describe(error), durationS: elapsed() });
      }
    }
    // Asked before the clean-up closes the stack's connections.
    servers = await serversOf(stack, outcomes);
  } finally {
    await cleanUp();
  }

  const info: RunInfo = {
    startedAt: startedAt.toISOString(),
    durationS: Number(((Date.now() - startedAt.getTime()) / 1000).toFixed(1)),
    commit: gitCommit(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    machine: {
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
      servers,
    },
    options: { events, rounds, quick, only: opts.only ?? null },
  };
  const rows = buildRows(outcomes);
  console.log(`\n${textTable(rows)}\n`);
  const files = writeResults(path.join(RESULTS_DIR, isFullRun ? 'latest' : 'partial'), info, outcomes, rows);
  console.log(`results: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  // Missed targets are findings for the reader, not a crash; only a scenario that broke fails the run.
  return outcomes.some((o) => o.error) ? 1 : 0;
}

main(process.argv).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(describe(error));
    process.exit(1);
  },
);
