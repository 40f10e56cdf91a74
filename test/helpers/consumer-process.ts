import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from './test-context';

export interface ConsumerProcess {
  child: ChildProcess;
  /** Resolves with how the process ended; never rejects. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

export interface ConsumerProcessOptions {
  /** The group to run (`tidings run <group>`). Default `notification`. */
  group?: string;
  retryDelays?: string;
  /** Serve /metrics, /healthz and /readyz on this port (`--metrics-port`); see test/helpers/free-port.ts. */
  metricsPort?: number;
  env?: Record<string, string>;
}

/**
 * `tidings run notification` (or `options.group`) as its own process, pointed at one test
 * context (its database, topics, SMTP server and group id), so a test can kill it like an
 * operator's `kill -9`.
 */
export function startConsumerProcess(ctx: TestContext, options: ConsumerProcessOptions = {}): ConsumerProcess {
  const group = options.group ?? 'notification';
  const args = ['run', group, '--group-id', ctx.groupId(group), '--topic-prefix', `${ctx.id}.`, '--session-timeout', '6000'];
  if (options.retryDelays) args.push('--retry-delays', options.retryDelays);
  if (options.metricsPort !== undefined) args.push('--metrics-port', String(options.metricsPort));
  return startTidingsProcess(args, {
    DATABASE_URL: ctx.databaseUrl,
    KAFKA_BROKERS: ctx.platform.endpoints.kafkaBrokers.join(','),
    SCHEMA_REGISTRY_URL: ctx.platform.endpoints.schemaRegistryUrl,
    SMTP_URL: ctx.mail.url,
    LOG_LEVEL: 'warn',
    ...options.env,
  });
}

/** `tidings <args>` as a long-running process of its own (e.g. `api`), with `env` over the test's environment. */
export function startTidingsProcess(args: string[], env: Record<string, string>): ConsumerProcess {
  const { TIDINGS_FAULT: _inherited, ...parentEnv } = process.env;
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), ...args], {
    env: { ...parentEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    // The tail is enough to explain a failure.
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, output }));
  });
  return { child, exited };
}
