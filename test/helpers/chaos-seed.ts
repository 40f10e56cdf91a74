import { seededRng, type Rng } from '../../src/events/samples';

/**
 * The random source of a chaos test: a fresh seed each run, or `CHAOS_SEED=<n>` to replay
 * one. The seed is printed before anything random happens, so a failing run can be replayed
 * (`replay` is the test file and a `-t` pattern selecting the test).
 */
export function chaosRandom(replay: { file: string; testPattern: string }): { seed: number; random: Rng } {
  const given = process.env.CHAOS_SEED;
  const seed = given === undefined || given === '' ? Math.floor(Math.random() * 2 ** 31) : Number(given);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`CHAOS_SEED must be a non-negative integer (got "${given}")`);
  console.log(`CHAOS_SEED=${seed}; replay with: CHAOS_SEED=${seed} npm run test:chaos -- ${replay.file} -t '${replay.testPattern}'`);
  return { seed, random: seededRng(seed) };
}
