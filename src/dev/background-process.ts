import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';

/**
 * A server process of the local stack, started detached with its output in a log file and
 * its pid in a pid file, so `tidings dev status|down` from another shell can find it.
 */
export interface LaunchSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user and group (only root may ask): PostgreSQL refuses to run as root. */
  uid?: number;
  gid?: number;
  /** The port the server listens on, recorded so a later run with another port setting can tell. */
  port?: number;
}

export interface StopBehaviour {
  /** Signal asking the server to stop. Default SIGTERM. */
  signal?: NodeJS.Signals;
  /** Signal the whole process group (default) or the leader alone, for a server that stops its own children. */
  group?: boolean;
}

export class BackgroundProcess {
  readonly pidFile: string;
  readonly logFile: string;
  private readonly portFile: string;

  constructor(
    readonly name: string,
    private readonly runDir: string,
    private readonly stopBehaviour: StopBehaviour = {},
  ) {
    this.pidFile = path.join(runDir, `${name}.pid`);
    this.logFile = path.join(runDir, `${name}.log`);
    this.portFile = path.join(runDir, `${name}.port`);
  }

  /** The port recorded when the running process was started, if any. */
  port(): number | undefined {
    if (!this.isRunning() || !fs.existsSync(this.portFile)) return undefined;
    return Number(fs.readFileSync(this.portFile, 'utf8').trim()) || undefined;
  }

  pid(): number | undefined {
    if (!fs.existsSync(this.pidFile)) return undefined;
    const pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  }

  isRunning(): boolean {
    return this.pid() !== undefined;
  }

  start(spec: LaunchSpec): number {
    const running = this.pid();
    if (running !== undefined) return running;
    fs.mkdirSync(this.runDir, { recursive: true });
    const out = fs.openSync(this.logFile, 'a');
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      uid: spec.uid,
      gid: spec.gid,
      detached: true,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    if (child.pid === undefined) throw new StackError(`could not start ${this.name} (${spec.command})`);
    child.unref();
    fs.writeFileSync(this.pidFile, String(child.pid));
    if (spec.port !== undefined) fs.writeFileSync(this.portFile, String(spec.port));
    else fs.rmSync(this.portFile, { force: true });
    return child.pid;
  }

  /** The stop signal (SIGTERM unless set), then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 30_000): Promise<boolean> {
    const pid = this.pid();
    if (pid === undefined) {
      fs.rmSync(this.pidFile, { force: true });
      return false;
    }
    const group = this.stopBehaviour.group ?? true;
    signal(pid, this.stopBehaviour.signal ?? 'SIGTERM', group);
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await delay(100);
    if (isAlive(pid)) {
      // Whatever the server's own children are doing, nothing of it may outlive a kill.
      signal(pid, 'SIGKILL', true);
      while (isAlive(pid)) await delay(50);
    }
    fs.rmSync(this.pidFile, { force: true });
    fs.rmSync(this.portFile, { force: true });
    return true;
  }

  /** Last lines of the log, to explain a failed start. */
  tail(lines = 20): string {
    if (!fs.existsSync(this.logFile)) return '(no log)';
    return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch {
    return false;
  }
}

/** A killed child of this very process lingers as a zombie until reaped; count it as gone. */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    // Negative pid: the whole process group, since the server was started detached as its leader.
    process.kill(group ? -pid : pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns true; throws with `describeFailure()` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; describeFailure?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const extra = options.describeFailure ? `\n${options.describeFailure()}` : '';
      throw new StackError(`${what} not ready after ${options.timeoutMs} ms${extra}`);
    }
    await delay(options.intervalMs ?? 250);
  }
}
