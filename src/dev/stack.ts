import net from 'node:net';
import path from 'node:path';
import { resolveEndpoints, type Endpoints, type Env, readEnv } from '../config/env';
import { ensureDatabase } from '../db/database';
import { StackError } from '../errors';
import { BackgroundProcess, waitUntil } from './background-process';
import { KafkaServer, KAFKA_VERSION, canListTopics } from './kafka-server';
import { PROJECT_ROOT, stackHome } from './paths';
import { APICURIO_VERSION, RegistryServer, isRegistryUp } from './registry-server';

/**
 * `tidings dev up|down|status`: the local stack without Docker. Kafka, the registry and a
 * mail-catching SMTP server run as background processes under `.tidings/`; PostgreSQL is
 * the server named by DATABASE_URL. A component whose env var is set (KAFKA_BROKERS,
 * SCHEMA_REGISTRY_URL, SMTP_URL) is used as it is and not started.
 */
export interface ComponentStatus {
  name: string;
  endpoint: string;
  managed: boolean;
  up: boolean;
  detail?: string;
}

export interface StackOptions {
  env?: Env;
  home?: string;
  progress?: (line: string) => void;
}

const SMTP_PORT = 1025;

export class LocalStack {
  readonly endpoints: Endpoints;
  readonly home: string;
  private readonly env: Env;
  private readonly kafka: KafkaServer;
  private readonly registry: RegistryServer;
  private readonly mail: BackgroundProcess;
  private readonly progress: (line: string) => void;

  constructor(options: StackOptions = {}) {
    this.env = options.env ?? readEnv();
    this.endpoints = resolveEndpoints(this.env);
    this.home = options.home ?? stackHome();
    this.progress = options.progress ?? (() => undefined);
    this.kafka = new KafkaServer({ home: this.home });
    this.registry = new RegistryServer({ home: this.home, databaseUrl: this.endpoints.databaseUrl });
    this.mail = new BackgroundProcess('smtp', path.join(this.home, 'run'));
  }

  private registryDatabaseUrl(): string {
    const url = new URL(this.endpoints.databaseUrl);
    url.pathname = '/tidings_registry';
    return url.toString();
  }

  get mailDir(): string {
    return path.join(this.home, 'mail');
  }

  /** Starts what is not running; resolves when every component answers. */
  async up(): Promise<ComponentStatus[]> {
    await this.step('PostgreSQL', async () => {
      const created = await ensureDatabase(this.endpoints.databaseUrl);
      if (!this.env.SCHEMA_REGISTRY_URL) await ensureDatabase(this.registryDatabaseUrl());
      return created ? 'created database' : 'reachable';
    });
    // Downloads and unpacking run (synchronously) before anything talks to a server, so
    // they cannot starve a connection attempt of the event loop.
    if (!this.env.KAFKA_BROKERS) await this.step(`Kafka ${KAFKA_VERSION} jars`, async () => `${this.kafka.install().length} jars (Maven cache)`);
    if (!this.env.SCHEMA_REGISTRY_URL) await this.step(`Apicurio Registry ${APICURIO_VERSION} distribution`, async () => this.registry.install());
    // Kafka and the registry boot in parallel: together that is most of a cold start.
    await Promise.all([
      this.env.KAFKA_BROKERS
        ? this.step('Kafka (external)', () => this.expect(canListTopics(this.endpoints.kafkaBrokers), 'KAFKA_BROKERS'))
        : this.step(`Kafka ${KAFKA_VERSION}`, async () => {
            // Another checkout's stack may already serve this port: use it rather than clash.
            if (!this.kafka.proc.isRunning() && (await canListTopics(this.kafka.brokers))) return `${this.kafka.brokers.join(',')} (already running)`;
            await this.kafka.start();
            return this.kafka.brokers.join(',');
          }),
      this.env.SCHEMA_REGISTRY_URL
        ? this.step('Schema registry (external)', () => this.expect(isRegistryUp(this.endpoints.schemaRegistryUrl), 'SCHEMA_REGISTRY_URL'))
        : this.step(`Apicurio Registry ${APICURIO_VERSION}`, async () => {
            if (!this.registry.process.isRunning() && (await isRegistryUp(this.registry.url).catch(() => false))) return `${this.registry.url} (already running)`;
            await this.registry.start();
            return this.registry.url;
          }),
    ]);
    if (!this.env.SMTP_URL) {
      await this.step('SMTP mail catcher', async () => {
        if (!this.mail.isRunning() && (await smtpGreets(SMTP_PORT))) return `${this.endpoints.smtpUrl} (already running)`;
        this.mail.start({
          command: process.execPath,
          args: [path.join(PROJECT_ROOT, 'bin', 'tidings.cjs'), 'dev', 'mail-catcher', '--port', String(SMTP_PORT), '--dir', this.mailDir],
        });
        await waitUntil(`SMTP on 127.0.0.1:${SMTP_PORT}`, () => smtpGreets(SMTP_PORT), {
          timeoutMs: 20_000,
          describeFailure: () => this.mail.tail(),
        });
        return `${this.endpoints.smtpUrl} (mail saved in ${this.mailDir})`;
      });
    }
    return this.status();
  }

  /** Stops the components this stack started (never external ones). */
  async down(): Promise<string[]> {
    const stopped: string[] = [];
    const results = await Promise.all([this.mail.stop(), this.registry.stop(), this.kafka.stop()]);
    ['smtp', 'registry', 'kafka'].forEach((name, i) => {
      if (results[i]) stopped.push(name);
    });
    return stopped;
  }

  async status(): Promise<ComponentStatus[]> {
    const [kafkaUp, registryUp, smtpUp, pgUp] = await Promise.all([
      canListTopics(this.endpoints.kafkaBrokers),
      isRegistryUp(this.endpoints.schemaRegistryUrl).catch(() => false),
      smtpGreets(Number(new URL(this.endpoints.smtpUrl).port || 25), new URL(this.endpoints.smtpUrl).hostname).catch(() => false),
      ensureDatabase(this.endpoints.databaseUrl).then(() => true, () => false),
    ]);
    return [
      { name: 'kafka', endpoint: this.endpoints.kafkaBrokers.join(','), managed: !this.env.KAFKA_BROKERS, up: kafkaUp, detail: `Kafka ${KAFKA_VERSION}` },
      { name: 'registry', endpoint: this.endpoints.schemaRegistryUrl, managed: !this.env.SCHEMA_REGISTRY_URL, up: registryUp, detail: `Apicurio ${APICURIO_VERSION}` },
      { name: 'smtp', endpoint: this.endpoints.smtpUrl, managed: !this.env.SMTP_URL, up: smtpUp },
      { name: 'postgres', endpoint: redactUrl(this.endpoints.databaseUrl), managed: false, up: pgUp },
    ];
  }

  private async step(name: string, work: () => Promise<string>): Promise<void> {
    const started = Date.now();
    this.progress(`… ${name}`);
    try {
      const detail = await work();
      this.progress(`✓ ${name}: ${detail} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      this.progress(`✗ ${name}`);
      throw error;
    }
  }

  private async expect(probe: Promise<boolean>, variable: string): Promise<string> {
    if (!(await probe.catch(() => false))) throw new StackError(`${variable} is set but nothing answers there`);
    return 'reachable';
  }
}

/** True when an SMTP server answers with its 220 greeting. */
export function smtpGreets(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('220')));
    socket.once('error', () => done(false));
  });
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
