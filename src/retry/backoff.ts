/** Exponential backoff with full jitter: attempt 0 → up to `initialMs`, doubling to `maxMs`. */
export function backoffDelay(attempt: number, initialMs = 200, maxMs = 30_000, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(initialMs / 2, Math.round(ceiling * random()));
}
