import { buildRows, markdownReport, type RunInfo, type ScenarioOutcome } from '../../bench/harness/report';
import type { Scenario, ScenarioResult } from '../../bench/harness/scenario';

function outcome(name: string, result: ScenarioResult): ScenarioOutcome {
  const scenario: Scenario = { name, description: `${name} scenario`, run: () => Promise.resolve(result) };
  return { scenario, result, durationS: 1 };
}

const info: RunInfo = {
  startedAt: '2026-12-04T04:00:00.000Z',
  durationS: 10,
  commit: 'abc1234',
  node: 'v20.20.2',
  cpus: '2 × Test CPU',
  machine: { os: 'Linux 6.1.0 x64', memoryGiB: 24, loadAverage: { start: 0.5, end: 1.75 }, servers: ['Kafka 4.4.0 (one KRaft broker)', 'PostgreSQL 16.4'] },
  options: { events: 1000, rounds: 3, quick: false, only: null },
};

describe('bench results file', () => {
  const outcomes = [
    outcome('publish', {
      measurements: [
        { name: 'sdk', value: 70, unit: 'events/s', samples: [70, 60, 80] },
        { name: 'raw', value: 100, unit: 'events/s', samples: [100, 100, 100] },
      ],
      comparisons: [{ measurement: 'sdk', baseline: 'raw', target: 0.9, whyMissed: 'validation costs 11 µs per event (profile in docs/performance.md)' }],
    }),
    outcome('pipeline', {
      measurements: [{ name: 'rate', value: 900, unit: 'events/s', samples: [900, 950, 880] }],
      comparisons: [
        { measurement: 'rate', target: 500, whyMissed: 'never shown: the target is met' },
        { measurement: 'rate', target: 10_000 },
      ],
    }),
  ];
  const report = markdownReport(info, outcomes, buildRows(outcomes));

  it('describes the machine the numbers were measured on', () => {
    expect(report).toContain('Machine: 2 × Test CPU, 24 GiB memory, Linux 6.1.0 x64; load average 0.50 at the start and 1.75 at the end.');
    expect(report).toContain('Kafka 4.4.0 (one KRaft broker), PostgreSQL 16.4');
  });

  it("lists every missed target with its scenario's reason, and no met one", () => {
    const section = report.slice(report.indexOf('## Targets not met'), report.indexOf('## Details'));
    expect(section).toContain('- **publish sdk** (0.70 × raw, target ≥ 0.90): validation costs 11 µs per event (profile in docs/performance.md)');
    expect(section).toContain('- **pipeline rate** (900 events/s, target ≥ 10,000): no reason recorded by the scenario');
    expect(section).not.toContain('never shown');
  });

  it('has no such section when every target is met', () => {
    const met = [outcomes[1]!].map((o) => ({ ...o, result: { ...o.result!, comparisons: [o.result!.comparisons[0]!] } }));
    expect(markdownReport(info, met, buildRows(met))).not.toContain('Targets not met');
  });
});
