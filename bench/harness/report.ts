import fs from 'node:fs';
import path from 'node:path';
import { median, type Comparison, type Measurement, type Scenario, type ScenarioResult } from './scenario';

export interface ScenarioOutcome {
  scenario: Scenario;
  durationS: number;
  result?: ScenarioResult;
  error?: string;
}

export type Status = 'pass' | 'fail' | 'info' | 'n/a' | 'error';

export interface Row {
  scenario: string;
  measurement: string;
  value?: number;
  unit?: string;
  /** Lowest and highest round of the measurement, when it had rounds. */
  range?: [number, number];
  baseline?: string;
  baselineValue?: number;
  ratio?: number;
  /** Lowest and highest per-round ratio, when both sides were measured in the same rounds. */
  ratioRange?: [number, number];
  target?: string;
  status: Status;
  note?: string;
  /** A missed target's reason (`Comparison.whyMissed`), on `fail` rows only. */
  whyMissed?: string;
}

export interface RunInfo {
  startedAt: string;
  durationS: number;
  commit: string;
  node: string;
  cpus: string;
  /** What the numbers were measured on: the reader of a result needs it to compare runs. */
  machine: MachineInfo;
  options: { events: number; rounds: number; quick: boolean; only: string[] | null };
}

export interface MachineInfo {
  /** e.g. `Linux 6.1.0 x64`. */
  os: string;
  memoryGiB: number;
  /** 1-minute load average when the run started and when it ended: other work on a shared machine shows here. */
  loadAverage: { start: number; end: number };
  /** The servers the run used, all on this machine: Kafka, the schema registry, PostgreSQL, the SMTP sink. */
  servers: string[];
}

/** Turns every comparison into a table row; measurements no comparison mentions get an info row. */
export function buildRows(outcomes: ScenarioOutcome[]): Row[] {
  const lookup = (ref: string, scenario: string): Measurement | undefined => {
    const [owner, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [scenario, ref];
    return outcomes.find((o) => o.scenario.name === owner)?.result?.measurements.find((m) => m.name === name);
  };
  const rows: Row[] = [];
  for (const { scenario, result, error } of outcomes) {
    if (!result) {
      rows.push({ scenario: scenario.name, measurement: '—', status: 'error', note: error });
      continue;
    }
    const mentioned = new Set<string>();
    for (const c of result.comparisons) {
      mentioned.add(c.measurement);
      if (c.baseline) mentioned.add(c.baseline);
      rows.push(compare(scenario.name, c, lookup(c.measurement, scenario.name), c.baseline ? lookup(c.baseline, scenario.name) : undefined));
    }
    for (const m of result.measurements.filter((m) => !mentioned.has(m.name))) {
      rows.push({ scenario: scenario.name, measurement: m.name, value: m.value, unit: m.unit, range: rangeOf(m.samples), status: 'info' });
    }
  }
  return rows;
}

function compare(scenario: string, c: Comparison, value: Measurement | undefined, baseline: Measurement | undefined): Row {
  const row: Omit<Row, 'status'> = { scenario, measurement: c.measurement, value: value?.value, unit: value?.unit, range: rangeOf(value?.samples), baseline: c.baseline, note: c.note };
  if (c.baseline) row.baselineValue = baseline?.value;
  if (!value || (c.baseline && !baseline)) {
    return { ...row, status: 'n/a', note: `${c.note ? `${c.note}; ` : ''}needs a scenario this run skipped` };
  }
  // Rounds taken side by side (in one scenario) are compared round by round, so noise that hit
  // both sides cancels; a baseline from another scenario ran at another time: medians only.
  const sideBySide = !c.measurement.includes('/') && !c.baseline?.includes('/');
  const paired =
    sideBySide && baseline && value.samples && baseline.samples?.length === value.samples.length ? value.samples.map((v, i) => v / (baseline.samples?.[i] ?? Number.NaN)) : undefined;
  const ratio = paired ? median(paired) : baseline ? value.value / baseline.value : undefined;
  row.ratio = ratio;
  row.ratioRange = rangeOf(paired);
  if (c.target === undefined) return { ...row, status: 'info' };
  const compared = ratio ?? value.value;
  row.target = ratio === undefined ? `≥ ${formatNumber(c.target)}` : `≥ ${c.target.toFixed(2)}`;
  if (compared >= c.target) return { ...row, status: 'pass' };
  return { ...row, status: 'fail', ...(c.whyMissed ? { whyMissed: c.whyMissed } : {}) };
}

function rangeOf(samples: readonly number[] | undefined): [number, number] | undefined {
  return samples && samples.length > 1 ? [Math.min(...samples), Math.max(...samples)] : undefined;
}

export function formatNumber(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return Math.round(value).toLocaleString('en-US');
}

const HEADINGS = ['scenario', 'measurement', 'median', 'min–max', 'baseline', 'ratio', 'ratio min–max', 'target', 'result'];

function cells(row: Row): string[] {
  const unit = row.unit ? ` ${row.unit}` : '';
  const baseline = row.baseline ? `${row.baseline} ${formatNumber(row.baselineValue)}` : '—';
  return [
    row.scenario,
    row.measurement,
    `${formatNumber(row.value)}${row.value === undefined ? '' : unit}`,
    row.range ? `${formatNumber(row.range[0])}–${formatNumber(row.range[1])}` : '—',
    baseline,
    row.ratio === undefined ? '—' : row.ratio.toFixed(2),
    row.ratioRange ? `${row.ratioRange[0].toFixed(2)}–${row.ratioRange[1].toFixed(2)}` : '—',
    row.target ?? '—',
    row.status,
  ];
}

/** A fixed-width table for the terminal. */
export function textTable(rows: Row[]): string {
  const table = [HEADINGS, ...rows.map(cells)];
  const widths = HEADINGS.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(table[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function markdownReport(info: RunInfo, outcomes: ScenarioOutcome[], rows: Row[]): string {
  const md = (r: string[]): string => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const lines = [
    '# Benchmark results',
    '',
    `Run ${info.startedAt} at commit ${info.commit}, Node ${info.node}, ${info.cpus}; ` +
      `${info.options.events.toLocaleString('en-US')} events, ${info.options.rounds} round(s): each value is the median round, with the lowest and highest beside it; ` +
      'a ratio of two measurements taken in the same rounds is the median of the per-round ratios. How to read them: bench/README.md.',
    '',
    machineLine(info),
    '',
    md(HEADINGS),
    md(HEADINGS.map(() => '---')),
    ...rows.map((r) => md(cells(r))),
    '',
    ...unmetSection(rows),
    '## Details',
    '',
  ];
  for (const { scenario, result, error, durationS } of outcomes) {
    lines.push(`- **${scenario.name}** (${durationS.toFixed(1)} s): ${scenario.description}`);
    if (error) lines.push(`  - error: ${error}`);
    for (const m of result?.measurements ?? []) {
      const detail = Object.entries(m.detail ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
      const rounds = m.samples && m.samples.length > 1 ? ` [rounds: ${m.samples.map((v) => formatNumber(v)).join(', ')}]` : '';
      lines.push(`  - ${m.name}: ${formatNumber(m.value)} ${m.unit}${rounds}${detail ? ` (${detail})` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function machineLine(info: RunInfo): string {
  const { os, memoryGiB, loadAverage, servers } = info.machine;
  return (
    `Machine: ${info.cpus}, ${memoryGiB} GiB memory, ${os}; load average ${loadAverage.start.toFixed(2)} at the start and ${loadAverage.end.toFixed(2)} at the end. ` +
    `Every server runs on the same machine and shares its cores with the bench: ${servers.length ? servers.join(', ') : 'none started'}.`
  );
}

/**
 * Each missed target with the reason its scenario gives (`Comparison.whyMissed`): where the
 * time goes and which profile shows it, so a reader of the results is not left with a bare "fail".
 */
function unmetSection(rows: Row[]): string[] {
  const failed = rows.filter((r) => r.status === 'fail');
  if (failed.length === 0) return [];
  const lines = ['## Targets not met: where the time goes', ''];
  for (const row of failed) {
    const against = row.baseline ? `${row.ratio?.toFixed(2) ?? '—'} × ${row.baseline}` : `${formatNumber(row.value)} ${row.unit ?? ''}`.trim();
    lines.push(`- **${row.scenario} ${row.measurement}** (${against}, target ${row.target ?? '—'}): ${row.whyMissed ?? 'no reason recorded by the scenario'}`);
  }
  lines.push('');
  return lines;
}

/** Writes `<base>.json` and `<base>.md` via temp files, so a reader never sees half a file. */
export function writeResults(base: string, info: RunInfo, outcomes: ScenarioOutcome[], rows: Row[]): string[] {
  fs.mkdirSync(path.dirname(base), { recursive: true });
  const json = {
    run: info,
    scenarios: outcomes.map(({ scenario, durationS, result, error }) => ({
      name: scenario.name,
      description: scenario.description,
      durationS: Number(durationS.toFixed(2)),
      measurements: result?.measurements ?? [],
      ...(error ? { error } : {}),
    })),
    rows,
  };
  const files: Array<[string, string]> = [
    [`${base}.json`, `${JSON.stringify(json, null, 2)}\n`],
    [`${base}.md`, markdownReport(info, outcomes, rows)],
  ];
  for (const [file, content] of files) {
    fs.writeFileSync(`${file}.tmp`, content);
    fs.renameSync(`${file}.tmp`, file);
  }
  return files.map(([file]) => file);
}
