import type { BenchStack } from './bench-stack';

/** What every scenario receives: the run's options and, on demand, the shared stack. */
export interface BenchContext {
  /** Events per timed measurement (`--events`). */
  events: number;
  /** `--quick`: fewer events and rounds, for a smoke run rather than numbers to keep. */
  quick: boolean;
  /**
   * Timed rounds per measurement (`--rounds`, default 3). Each measurement reports the median
   * round with the min and max beside it, so a reader can tell a change from the machine's
   * noise (rounds on a shared 2-core machine differ by 30 % or more).
   */
  rounds: number;
  /** Backlog sizes of the scaling scenario (`--scaling-sizes`); default 10,000, 100,000 and 1,000,000. */
  scalingSizes?: number[];
  /** Brings the stack up on first call (Kafka, registry) with this run's own topics and schemas. */
  stack(): Promise<BenchStack>;
  progress(line: string): void;
}

export interface Measurement {
  name: string;
  /** The median of `samples` when there are samples. */
  value: number;
  unit: string;
  /**
   * One value per round, in round order. Two measurements with as many samples were taken
   * side by side (round i of each), so their ratio is taken per round.
   */
  samples?: number[];
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
  /**
   * When the target is missed: where the time goes (the profile and its numbers, or the
   * document that has them) and why. Printed under the table in the results.
   */
  whyMissed?: string;
}

export interface ScenarioResult {
  measurements: Measurement[];
  comparisons: Comparison[];
}

export interface Scenario {
  name: string;
  /** One line for `--help`, the README and the results file. */
  description: string;
  /** How long the scenario may run before the run fails it; default 5 minutes. */
  deadlineMs?: number;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

/** Events per second of `count` events done in `elapsedNs` nanoseconds. */
export function perSecond(count: number, elapsedNs: bigint): number {
  return count / (Number(elapsedNs) / 1e9);
}

/** A measurement of several rounds: the median is its value, the rounds stay as samples. */
export function fromSamples(name: string, unit: string, samples: number[], detail?: Record<string, string | number>): Measurement {
  if (samples.length === 0) throw new Error(`${name}: no round was measured`);
  return { name, value: median(samples), unit, samples: [...samples], detail: { ...detail, rounds: samples.length } };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
