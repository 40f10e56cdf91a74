/**
 * Crash points for chaos tests. `TIDINGS_FAULT=<point>[:<n>]` makes the process SIGKILL
 * itself the n-th time (default 1st) it reaches `faultPoint(<point>)` — the same abrupt
 * death as `kill -9`, at a moment a test chooses. Unset, a fault point costs one lookup.
 */
const spec = parse(process.env.TIDINGS_FAULT);
let hits = 0;

function parse(value: string | undefined): { point: string; after: number } | undefined {
  if (!value) return undefined;
  const [point, after] = value.split(':');
  const n = after === undefined ? 1 : Number(after);
  if (!point || !Number.isInteger(n) || n < 1) throw new Error(`TIDINGS_FAULT must be <point>[:<n>] with n >= 1 (got "${value}")`);
  return { point, after: n };
}

export function faultPoint(name: string): void {
  if (spec === undefined || spec.point !== name) return;
  hits++;
  if (hits >= spec.after) process.kill(process.pid, 'SIGKILL');
}
