import { ConfigError } from '../errors';
import { setFaultHook } from '../observability/fault-injection';

/**
 * The crash tests' hook: `TIDINGS_FAULT=<point>[:<n>]` makes the process SIGKILL itself the
 * n-th time (default 1st) it reaches `faultPoint(<point>)`, the same abrupt death as
 * `kill -9` at a moment the test chooses. Installed by the CLI only, never by the library.
 */
export function installFaultHookFromEnv(value: string | undefined): void {
  if (!value) return;
  const [point, after] = value.split(':');
  const n = after === undefined ? 1 : Number(after);
  if (!point || !Number.isInteger(n) || n < 1) throw new ConfigError(`TIDINGS_FAULT must be <point>[:<n>] with n >= 1 (got "${value}")`);
  let hits = 0;
  setFaultHook((name) => {
    if (name !== point) return;
    hits++;
    if (hits >= n) process.kill(process.pid, 'SIGKILL');
  });
}
