import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port';
import { waitFor } from './wait';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensurePrometheus } = require('../../scripts/ensure-prometheus.cjs') as { ensurePrometheus(): PrometheusBinaries };

/** Debian's `prometheus` package, unpacked once into the cache by scripts/ensure-prometheus.cjs. */
export interface PrometheusBinaries {
  /** The Debian package version, e.g. `2.42.0+ds-5+deb12u1`. */
  version: string;
  promtool: string;
  prometheus: string;
}

export function prometheusBinaries(): PrometheusBinaries {
  return ensurePrometheus();
}

/** The alert rules the repository ships; tests load this file itself, never a copy. */
export const SHIPPED_ALERT_RULES = path.resolve(__dirname, '../../deploy/prometheus/tidings-alerts.yml');

/** One alert as `GET /api/v1/alerts` lists it: only alerts whose expression holds (pending or firing). */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

/** A rule as `GET /api/v1/rules` describes it once loaded. */
export interface LoadedRule {
  name: string;
  type: 'alerting' | 'recording';
  health: string;
  /** The `for`, in seconds. */
  duration?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One element of an instant vector from `GET /api/v1/query`. */
export interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServerOptions {
  /** Scrape jobs: the `host:port` of each `/metrics` endpoint. */
  jobs: Record<string, string[]>;
  /** Rule files to evaluate. Default: the shipped alert rules. */
  ruleFiles?: string[];
  /** Scrape and rule evaluation interval. Default `1s`, so a test sees a change within seconds. */
  interval?: string;
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

/**
 * A real Prometheus server (Debian's binary) for one test file: it scrapes the given targets and
 * evaluates the given rule files, with its TSDB in a temporary folder removed on `close()`.
 */
export class PrometheusServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<string>,
    private readonly dir: string,
    readonly url: string,
  ) {}

  static async start(options: PrometheusServerOptions): Promise<PrometheusServer> {
    const { prometheus } = prometheusBinaries();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-prometheus-'));
    const interval = options.interval ?? '1s';
    // JSON is YAML: no YAML writer needed for a generated config.
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: options.ruleFiles ?? [SHIPPED_ALERT_RULES],
      scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
    };
    const configFile = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const port = await freePort();
    const child = spawn(
      prometheus,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-10_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`prometheus exited (${code ?? signal}):\n${output}`)));
    const server = new PrometheusServer(child, exited, dir, `http://127.0.0.1:${port}`);
    try {
      await Promise.race([
        waitFor('Prometheus to be ready', async () => (await fetch(`${server.url}/-/ready`)).status === 200, 30_000, 100),
        exited.then((why) => Promise.reject(new Error(why))),
      ]);
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  private async get<T>(pathAndQuery: string): Promise<T> {
    const response = await fetch(`${this.url}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as ApiResponse<T>;
    if (body.status !== 'success') throw new Error(`GET ${pathAndQuery}: ${response.status} ${body.error ?? ''}`);
    return body.data;
  }

  /** Evaluates `expr` now: the instant vector's elements. */
  async query(expr: string): Promise<VectorSample[]> {
    const data = await this.get<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not an instant vector`);
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** Every alert whose expression currently holds, pending or firing. */
  async alerts(): Promise<ActiveAlert[]> {
    return (await this.get<{ alerts: ActiveAlert[] }>('/api/v1/alerts')).alerts;
  }

  private async ruleGroups(): Promise<Array<{ lastEvaluation: string; rules: LoadedRule[] }>> {
    return (await this.get<{ groups: Array<{ lastEvaluation: string; rules: LoadedRule[] }> }>('/api/v1/rules')).groups;
  }

  /** The rules loaded from the rule files, in their order. */
  async rules(): Promise<LoadedRule[]> {
    return (await this.ruleGroups()).flatMap((g) => g.rules);
  }

  /** Resolves once every rule group has been evaluated after this call: alerts then reflect what was scraped before it. */
  async nextEvaluation(timeoutMs = 15_000): Promise<void> {
    const since = Date.now();
    await waitFor(
      'a rule evaluation',
      async () => {
        const groups = await this.ruleGroups();
        return groups.length > 0 && groups.every((g) => Date.parse(g.lastEvaluation) > since);
      },
      timeoutMs,
      100,
    );
  }

  /** Stops the server and removes its data. Idempotent. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
