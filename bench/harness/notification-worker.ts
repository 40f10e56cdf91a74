import { fork, type ChildProcess } from 'node:child_process';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import type { Endpoints } from '../../src/config/env';
import type { ConsumerStats } from '../../src/consumer/consumer-runtime';
import { InAppChannel } from '../../src/in-app/in-app-channel';
import type { TopicNames } from '../../src/kafka/topics';
import type { ChannelName, Provider } from '../../src/notifications/channels/channel';
import type { LaneName } from '../../src/notifications/routing';
import type { ChannelSender } from '../../src/notifications/channels/channel-sender';
import { FailoverProvider } from '../../src/notifications/providers/failover';
import { SmtpProvider } from '../../src/notifications/providers/smtp-provider';
import { Platform } from '../../src/platform';

/**
 * A notification consumer group in a process of its own, so its RSS is a worker's RSS and
 * not the bench's (which holds the event fixtures and the publisher), and its CPU profile
 * (`--cpu-prof` is inherited) shows the pipeline alone. Fork one per run: a fresh worker
 * draining a backlog is what DESIGN's RSS target is about.
 */
export interface WorkerRun {
  endpoints: Endpoints;
  topics: TopicNames;
  clientId: string;
  groupId: string;
  chunkSize: number;
  /** Partitions the group works on at once (`tidings run notification --partitions-concurrency`); default 1. */
  partitionsConcurrency?: number;
  /** Channels enabled besides in-app: email to `endpoints.smtpUrl`. Others are left out (`channel_disabled`). */
  email: boolean;
  /** A lane of the notification group (`tidings run notification --lane`); default `all`. */
  lane?: LaneName;
  /** Keep, per event, the wall-clock time its email was accepted by the SMTP server (see `acceptances`). */
  recordAcceptances?: boolean;
}

/** An email accepted by the SMTP server: its event and when (ms since the epoch, sub-millisecond, this machine's clock). */
export interface Acceptance {
  eventId: string;
  /** When the worker handed the message to the SMTP provider. */
  sentAt: number;
  acceptedAt: number;
}

export interface WorkerRunResult {
  stats: ConsumerStats;
  /** Highest RSS sampled (every 100 ms) between start and stop, and the RSS at start. */
  rssPeakMb: number;
  rssStartMb: number;
  /** At the RSS peak: V8's heap and the memory outside it (Buffers…), to tell them apart. */
  heapTotalAtPeakMb: number;
  externalAtPeakMb: number;
}

type Command = { type: 'start'; run: WorkerRun } | { type: 'stats' } | { type: 'acceptances' } | { type: 'stop' };
type Reply =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'stats'; stats: ConsumerStats }
  | { type: 'acceptances'; acceptances: Acceptance[] }
  | ({ type: 'stopped' } & WorkerRunResult) | { type: 'failed'; error: string };

const RSS_SAMPLE_MS = 100;

/**
 * The V8 heap limit the bench's workers run with, as docs/performance.md tells operators to run
 * theirs (`NODE_OPTIONS=--max-old-space-size=192`): without it V8 lets a busy worker's heap grow
 * to about four times what is live. TIDINGS_BENCH_WORKER_HEAP_MB sets another; 0 leaves Node's default.
 */
export function workerHeapOption(): string | undefined {
  const raw = process.env.TIDINGS_BENCH_WORKER_HEAP_MB ?? '192';
  const mb = Number(raw);
  if (!Number.isInteger(mb) || mb < 0) throw new Error(`TIDINGS_BENCH_WORKER_HEAP_MB must be a whole number of MB, 0 for Node's default (got "${raw}")`);
  return mb === 0 ? undefined : `--max-old-space-size=${mb}`;
}

export class NotificationWorker {
  private constructor(private readonly child: ChildProcess) {}

  static async fork(): Promise<NotificationWorker> {
    // The parent's execArgv (tsx's loader, --cpu-prof…) is inherited, and the heap limit added.
    const heap = workerHeapOption();
    const worker = new NotificationWorker(fork(__filename, { execArgv: [...process.execArgv, ...(heap ? [heap] : [])] }));
    await worker.reply('ready');
    return worker;
  }

  /** The worker's process id (for `os.setPriority`, and to tell its `--cpu-prof` profile apart). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts a consumer group; resolves once `startNotificationConsumer` has returned. */
  async start(run: WorkerRun): Promise<void> {
    this.child.send({ type: 'start', run } satisfies Command);
    await this.reply('started');
  }

  /** The running group's counters so far. */
  async stats(): Promise<ConsumerStats> {
    this.child.send({ type: 'stats' } satisfies Command);
    return (await this.reply('stats')).stats;
  }

  /** The SMTP acceptances recorded since the last call (with `recordAcceptances`). */
  async acceptances(): Promise<Acceptance[]> {
    this.child.send({ type: 'acceptances' } satisfies Command);
    return (await this.reply('acceptances')).acceptances;
  }

  /** Stops the group started last (its in-flight chunk finishes) and reports on its run. */
  async stop(): Promise<WorkerRunResult> {
    this.child.send({ type: 'stop' } satisfies Command);
    const { type: _type, ...result } = await this.reply('stopped');
    return result;
  }

  /** Ends the worker: it exits when its IPC channel closes (writing its `--cpu-prof` profile), or is killed after 5 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private reply<T extends Reply['type']>(type: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: Reply): void => {
        cleanUp();
        if (message.type === type) resolve(message as Extract<Reply, { type: T }>);
        else reject(new Error(message.type === 'failed' ? `notification worker: ${message.error}` : `notification worker sent ${message.type}, expected ${type}`));
      };
      const onExit = (code: number | null, signal: string | null): void => {
        cleanUp();
        reject(new Error(`notification worker exited (${signal ?? `code ${code}`}) while the bench waited for "${type}"`));
      };
      const cleanUp = (): void => {
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.child.on('exit', onExit);
    });
  }
}

/** The child side: one consumer group at a time, on the parent's commands. */
function serve(send: (reply: Reply) => void): void {
  let current: { consumer: NotificationConsumer; platform: Platform; email?: FailoverProvider; rssStartMb: number; sampler: NodeJS.Timeout } | undefined;
  let acceptances: Acceptance[] = [];
  let peak = process.memoryUsage();
  const sample = (): void => {
    const now = process.memoryUsage();
    if (now.rss > peak.rss) peak = now;
  };
  const handle = async (command: Command): Promise<Reply> => {
    if (command.type === 'start') {
      const { run } = command;
      const platform = new Platform({ endpoints: run.endpoints, topics: run.topics, clientId: run.clientId });
      const channels: Partial<Record<ChannelName, ChannelSender>> = {
        in_app: new InAppChannel({ db: platform.db }),
      };
      let email: FailoverProvider | undefined;
      if (run.email) {
        const smtp = new SmtpProvider({ url: run.endpoints.smtpUrl, from: run.endpoints.mailFrom });
        email = new FailoverProvider({ channel: 'email', providers: [run.recordAcceptances ? timedProvider(smtp, (a) => acceptances.push(a)) : smtp] });
      }
      if (email) channels.email = email;
      peak = process.memoryUsage();
      const rssStartMb = mb(peak.rss);
      const sampler = setInterval(sample, RSS_SAMPLE_MS);
      const consumer = await startNotificationConsumer(platform, { groupId: run.groupId, chunkSize: run.chunkSize, partitionsConcurrency: run.partitionsConcurrency, channels, lane: run.lane });
      current = { consumer, platform, email, rssStartMb, sampler };
      return { type: 'started' };
    }
    if (!current) throw new Error(`${command.type} without a running consumer`);
    if (command.type === 'stats') return { type: 'stats', stats: { ...current.consumer.runtime.stats } };
    if (command.type === 'acceptances') {
      const taken = acceptances;
      acceptances = [];
      return { type: 'acceptances', acceptances: taken };
    }
    const { consumer, platform, email, rssStartMb, sampler } = current;
    current = undefined;
    clearInterval(sampler);
    sample();
    await consumer.stop();
    await email?.close();
    await platform.close();
    return {
      type: 'stopped',
      stats: { ...consumer.runtime.stats },
      rssPeakMb: mb(peak.rss),
      rssStartMb,
      heapTotalAtPeakMb: mb(peak.heapTotal),
      externalAtPeakMb: mb(peak.external),
    };
  };
  process.on('message', (command: Command) => {
    handle(command).then(send, (error: unknown) => send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
  });
  // The bench going away (even by SIGKILL) closes the IPC channel: nothing left to work for.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

/** `provider` noting when the server accepted each message: the moment its send resolved, on the wall clock. */
function timedProvider(provider: Provider, accepted: (a: Acceptance) => void): Provider {
  return {
    name: provider.name,
    channel: provider.channel,
    async send(message) {
      const sentAt = performance.timeOrigin + performance.now();
      const receipt = await provider.send(message);
      accepted({ eventId: message.eventId, sentAt, acceptedAt: performance.timeOrigin + performance.now() });
      return receipt;
    },
    close: () => provider.close?.(),
  };
}

function mb(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

if (require.main === module && process.send) {
  const send = process.send.bind(process);
  serve((reply) => send(reply));
}
