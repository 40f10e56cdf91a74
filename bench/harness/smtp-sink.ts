import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../test/helpers/free-port';

const { ensureSmtpSink } = require('../../scripts/ensure-smtp-sink.cjs') as { ensureSmtpSink(): { version: string; smtpSink: string; libDir: string } };

/**
 * Postfix's `smtp-sink` on a free loopback port: accepts every message (pipelining, many
 * connections) and discards it. It prints running counters (`sess=… quit=… mesg=N`) as
 * messages complete; `accepted` is the last count seen, so a run can prove every email got there.
 */
export class SmtpSink {
  accepted = 0;
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly version: string,
  ) {}

  static async start(): Promise<SmtpSink> {
    const { smtpSink, libDir, version } = ensureSmtpSink();
    const port = await freePort();
    const args = ['-c', '127.0.0.1:' + port, '256'];
    // smtp-sink refuses to keep root's privileges; it drops them once its socket is open.
    if (process.getuid?.() === 0) args.unshift('-u', 'nobody');
    const child = spawn(smtpSink, args, { env: { ...process.env, LD_LIBRARY_PATH: libDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = new SmtpSink(child, `smtp://127.0.0.1:${port}`, version);
    let errors = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const counts = [...chunk.matchAll(/mesg=(\d+)/g)];
      const last = counts.at(-1)?.[1];
      if (last !== undefined) sink.accepted = Number(last);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
    await sink.waitUntilListening(port, () => errors);
    return sink;
  }

  /** Resolves once `accepted` reaches `count`, or rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.accepted < count) {
      if (Date.now() > deadline) throw new Error(`smtp-sink accepted ${this.accepted} of ${count} messages within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private async waitUntilListening(port: number, errors: () => string): Promise<void> {
    const net = await import('node:net');
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`smtp-sink exited (${this.child.exitCode}): ${errors().trim()}`);
      const open = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) return;
      if (Date.now() > deadline) throw new Error(`smtp-sink did not listen on ${port} within 10 s: ${errors().trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
