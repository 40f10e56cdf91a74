import type { BenchStack } from './bench-stack';

/** What every scenario receives: the run's options and, on demand, the shared stack. */
export interface BenchContext {
  /** Events per timed measurement (`--events`). */
  events: number;
  /** `--quick`: fewer events and rounds, for a smoke run rather than numbers to keep. */
  quick: boolean;
  /** Timed rounds per measurement; the best one is reported (less noise from the other processes on the machine). */
  rounds: number;
  /** Brings the stack up on first call (Kafka, registry) with this run's own topics and schemas. */
  stack(): Promise<BenchStack>;
  progress(line: string): void;
}

export interface Measurement {
  name: string;
  value: number;
  unit: string;
  /** Anything a reader needs to trust or reproduce the number (sizes, rounds, batch sizes). */
  detail?: Record<string, string | number>;
}

/**
 * One row of the result table. `measurement` and `baseline` name a measurement of the same
 * scenario, or of another one as `scenario/measurement` (resolved after all scenarios ran).
 */
export interface Comparison {
  measurement: string;
  baseline?: string;
  /** Minimum for the ratio measurement/baseline when there is a baseline, else for the value. */
  target?: number;
  note?: string;
}

export interface ScenarioResult {
  measurements: Measurement[];
  comparisons: Comparison[];
}

export interface Scenario {
  name: string;
  /** One line for `--help`, the README and the results file. */
  description: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

/** Events per second of `count` events done in `elapsedNs` nanoseconds. */
export function perSecond(count: number, elapsedNs: bigint): number {
  return count / (Number(elapsedNs) / 1e9);
}
