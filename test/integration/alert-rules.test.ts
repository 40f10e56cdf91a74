import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Counter, Gauge, Histogram, Registry, Summary, collectDefaultMetrics } from 'prom-client';
import * as tidingsMetrics from '../../src/observability/metrics';
import { SHIPPED_ALERT_RULES, prometheusBinaries, type PrometheusBinaries } from '../helpers/prometheus-server';

const DEPLOY = path.resolve(__dirname, '../../deploy');
const RULE_TESTS = path.join(DEPLOY, 'prometheus/tidings-alerts.test.yml');
const SCRAPE_EXAMPLE = path.join(DEPLOY, 'prometheus/prometheus.example.yml');
const DASHBOARD = path.join(DEPLOY, 'grafana/tidings-dashboard.json');

const ALERTS = ['TidingsConsumerLagHigh', 'TidingsProcessingStopped', 'TidingsHighFailureRate', 'TidingsPaymentNotificationSlaBreach', 'TidingsDeadLetterQueueGrowing'];

function promtool(binaries: PrometheusBinaries, args: string[], cwd = DEPLOY): { status: number | null; output: string } {
  const result = spawnSync(binaries.promtool, args, { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface MetricDefinition {
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  labels: string[];
}

/** Every metric a Tidings process can export: those defined in src/observability/metrics.ts (registered or not) and prom-client's defaults. */
function knownMetrics(): Map<string, MetricDefinition> {
  const known = new Map<string, MetricDefinition>();
  const add = (metric: unknown): void => {
    const type = metric instanceof Counter ? 'counter' : metric instanceof Gauge ? 'gauge' : metric instanceof Histogram ? 'histogram' : metric instanceof Summary ? 'summary' : undefined;
    if (!type) return;
    const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
    known.set(name, { type, labels: [...labelNames] });
  };
  for (const value of Object.values(tidingsMetrics)) add(value);
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  for (const metric of defaults.getMetricsAsArray()) add(metric);
  return known;
}

/** The metric a series name belongs to: a histogram's `_bucket`, `_count` and `_sum` series are its own. */
function metricOf(series: string, known: Map<string, MetricDefinition>): [string, MetricDefinition] | undefined {
  const direct = known.get(series);
  if (direct) return [series, direct];
  const base = series.replace(/_(bucket|count|sum)$/, '');
  const histogram = known.get(base);
  return histogram && (histogram.type === 'histogram' || histogram.type === 'summary') && base !== series ? [base, histogram] : undefined;
}

// Metric names Tidings and prom-client use; PromQL functions and keywords never start like these.
const SERIES = /\b((?:tidings|kafka|process|nodejs)_[a-zA-Z0-9_]*)\b(\{[^}]*\})?/g;
const MATCHER_LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g;
const GROUPING = /\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g;
// Added by Prometheus to every scraped series, or by the histogram itself.
const SCRAPE_LABELS = ['job', 'instance'];

/** What is wrong with the metric and label names `expr` uses; empty when all exist. */
function unknownNames(expr: string, known: Map<string, MetricDefinition>): string[] {
  const problems: string[] = [];
  const labels = new Set(SCRAPE_LABELS);
  for (const [, series, selector] of expr.matchAll(SERIES)) {
    const found = metricOf(series as string, known);
    if (!found) {
      problems.push(`unknown metric ${series}`);
      continue;
    }
    const [, definition] = found;
    const allowed = new Set([...definition.labels, ...SCRAPE_LABELS, ...(series!.endsWith('_bucket') ? ['le'] : [])]);
    for (const label of allowed) labels.add(label);
    for (const [, label] of (selector ?? '').matchAll(MATCHER_LABEL)) {
      if (!allowed.has(label as string)) problems.push(`${series} has no label ${label}`);
    }
  }
  for (const [, list] of expr.matchAll(GROUPING)) {
    for (const label of (list as string).split(',').map((l) => l.trim()).filter(Boolean)) {
      if (!labels.has(label)) problems.push(`no metric in the expression has the label ${label} it groups by`);
    }
  }
  return problems;
}

/** The `expr:` blocks of a rules file (each a YAML block scalar), in order. */
function ruleExpressions(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^( *)expr: \|\n((?:\1 {2}.*\n)+)/gm)].map((m) => (m[2] as string).trim());
}

interface DashboardTarget {
  refId: string;
  expr: string;
  datasource?: { uid?: string };
}
interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: DashboardTarget[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  panels: DashboardPanel[];
}

/** A panel query with Grafana's variables replaced by values Prometheus accepts, for checking its syntax. */
function substituteVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval/g, '1m').replace(/\$\{?([a-zA-Z_]+)\}?/g, '.*');
}

describe('the shipped Prometheus rules and Grafana dashboard (promtool from Debian\'s prometheus package)', () => {
  let binaries: PrometheusBinaries;
  const known = knownMetrics();

  beforeAll(() => {
    binaries = prometheusBinaries();
  });

  it('promtool checks the alert rules and the example scrape configuration', () => {
    const rules = promtool(binaries, ['check', 'rules', SHIPPED_ALERT_RULES]);
    expect(rules).toEqual({ status: 0, output: expect.stringContaining('SUCCESS: 5 rules found') });
    const config = promtool(binaries, ['check', 'config', SCRAPE_EXAMPLE], path.dirname(SCRAPE_EXAMPLE));
    expect(config).toEqual({ status: 0, output: expect.stringContaining('is valid prometheus config file syntax') });
  });

  it('the rules\' promtool unit tests pass: each alert fires after its `for` and not in its near-miss cases', () => {
    const result = promtool(binaries, ['test', 'rules', RULE_TESTS]);
    expect(result).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    // Every alert has a test that expects it to fire.
    const tests = fs.readFileSync(RULE_TESTS, 'utf8');
    for (const alert of ALERTS) expect([alert, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`).test(tests)]).toEqual([alert, true]);
  });

  it('the rules use only metrics and labels Tidings exports', () => {
    const expressions = ruleExpressions(SHIPPED_ALERT_RULES);
    expect(expressions).toHaveLength(ALERTS.length);
    for (const expr of expressions) expect([expr, unknownNames(expr, known)]).toEqual([expr, []]);
  });

  it('the name check itself catches a misspelt metric, a label the metric lacks and a grouping by a label nobody has', () => {
    expect(unknownNames('rate(tidings_events_failed_totals[5m])', known)).toEqual(['unknown metric tidings_events_failed_totals']);
    expect(unknownNames('tidings_dlq_messages{consumergroup="x"}', known)).toEqual(['tidings_dlq_messages has no label consumergroup']);
    expect(unknownNames('sum by (consumer_group) (kafka_consumergroup_lag)', known)).toEqual(['no metric in the expression has the label consumer_group it groups by']);
    expect(unknownNames('histogram_quantile(0.99, sum by (le) (rate(tidings_delivery_latency_seconds_bucket[5m])))', known)).toEqual([]);
  });

  describe('the Grafana dashboard', () => {
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');
    const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));

    it('is an importable dashboard: uid, title, unique panel ids on a 24-column grid without overlaps, the data source a variable', () => {
      expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
      expect(dashboard.title).toBe('Tidings');
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
      const ids = dashboard.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const cells = new Set<string>();
      for (const { gridPos: g, title } of dashboard.panels) {
        expect([title, g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0]).toEqual([title, true]);
        for (let x = g.x; x < g.x + g.w; x++) {
          for (let y = g.y; y < g.y + g.h; y++) {
            expect([title, cells.has(`${x},${y}`)]).toEqual([title, false]);
            cells.add(`${x},${y}`);
          }
        }
      }
      for (const panel of queryPanels) {
        expect([panel.title, panel.datasource?.uid, panel.targets?.length ?? 0]).toEqual([panel.title, '${datasource}', expect.any(Number)]);
        expect([panel.title, (panel.targets ?? []).length > 0]).toEqual([panel.title, true]);
        const refIds = (panel.targets ?? []).map((t) => t.refId);
        expect(new Set(refIds).size).toBe(refIds.length);
      }
    });

    it('shows what an on-call engineer needs: throughput, failures, lag, retries and DLQ, outbox, deliveries, latency against the 0.5 s budget, circuit breakers', () => {
      const uses = (metric: string): boolean => targets.some(({ target }) => target.expr.includes(metric));
      for (const metric of [
        'tidings_events_processed_total',
        'tidings_events_failed_total',
        'kafka_consumergroup_lag',
        'tidings_consumer_committed_records_total',
        'tidings_retry_tier_depth',
        'tidings_dlq_messages',
        'tidings_outbox_backlog_rows',
        'tidings_outbox_oldest_age_seconds',
        'tidings_deliveries_total',
        'tidings_delivery_latency_seconds_bucket',
        'tidings_circuit_breaker_state',
      ]) {
        expect([metric, uses(metric)]).toEqual([metric, true]);
      }
      const latency = queryPanels.find((p) => p.targets?.some((t) => t.expr.includes('histogram_quantile(0.99') && t.expr.includes('tidings_delivery_latency_seconds_bucket')));
      const steps = (latency as unknown as { fieldConfig: { defaults: { thresholds: { steps: Array<{ value: number | null }> } } } }).fieldConfig.defaults.thresholds.steps;
      expect(steps.map((s) => s.value)).toContain(0.5);
    });

    it('every panel query is valid PromQL and reads only metrics and labels Tidings exports', () => {
      const variables = new Set(dashboard.templating.list.map((v) => v.name));
      for (const { panel, target } of targets) {
        for (const [, name] of target.expr.matchAll(/\$\{?([a-zA-Z_]+)\}?/g)) {
          if (!(name as string).startsWith('__')) expect([panel.title, name, variables.has(name as string)]).toEqual([panel.title, name, true]);
        }
        expect([panel.title, unknownNames(target.expr, known)]).toEqual([panel.title, []]);
      }
      // promtool parses PromQL only inside rules: check each query as a recording rule.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-dashboard-'));
      try {
        const rules = targets.map(({ panel, target }) => ({ record: `dashboard:panel_${panel.id}_${target.refId}`, expr: substituteVariables(target.expr) }));
        const file = path.join(dir, 'dashboard-queries.yml');
        fs.writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
        expect(promtool(binaries, ['check', 'rules', file], dir)).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
