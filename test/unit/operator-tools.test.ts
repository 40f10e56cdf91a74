import { PassThrough } from 'node:stream';
import { parseWholeNumber } from '../../src/cli/parse-options';
import { createProgress } from '../../src/cli/progress';
import { parseTimePoint, parseTimeRange } from '../../src/cli/time-range';
import { ConfigError } from '../../src/errors';
import { Pacer } from '../../src/ops/pacer';
import { RetryAbortedError } from '../../src/retry/retry';

const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('--from / --to', () => {
  it('takes ISO-8601, "now" and times before now', () => {
    expect(parseTimePoint('2026-12-01T10:00:00Z', '--from', NOW)).toBe(Date.parse('2026-12-01T10:00:00Z'));
    expect(parseTimePoint('2026-12-01T10:00:00+01:00', '--from', NOW)).toBe(Date.parse('2026-12-01T09:00:00Z'));
    expect(parseTimePoint('now', '--to', NOW)).toBe(NOW);
    expect(parseTimePoint('-2h', '--from', NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseTimePoint('-30m', '--from', NOW)).toBe(NOW - 30 * 60_000);
    expect(parseTimePoint('-7d', '--from', NOW)).toBe(NOW - 7 * 86_400_000);
  });

  it('refuses what is not a time, naming the flag and the forms it takes', () => {
    for (const bad of ['yesterday', '12/1/2026', '-2 hours', '2026-13-45', '']) {
      expect(() => parseTimePoint(bad, '--from', NOW)).toThrow(ConfigError);
      expect(() => parseTimePoint(bad, '--from', NOW)).toThrow(/--from: .* is not a time: use ISO-8601/);
    }
  });

  it('refuses a --from after --to, with both times', () => {
    expect(() => parseTimeRange({ from: '-1h', to: '-2h' }, NOW)).toThrow('--from (2026-12-02T11:00:00.000Z) is after --to (2026-12-02T10:00:00.000Z): swap them');
    expect(parseTimeRange({ from: '-2h' }, NOW)).toEqual({ fromMs: NOW - 7_200_000 });
    expect(parseTimeRange({}, NOW)).toEqual({});
  });
});

describe('whole-number flags', () => {
  it('takes a whole number in range and refuses anything else, naming the flag and the range', () => {
    expect(parseWholeNumber('3', '--partitions-concurrency', 1, 4)).toBe(3);
    for (const bad of ['0', '5', '2.5', '-1', 'two', '', '1e0']) {
      expect(() => parseWholeNumber(bad, '--partitions-concurrency', 1, 4)).toThrow(ConfigError);
      expect(() => parseWholeNumber(bad, '--partitions-concurrency', 1, 4)).toThrow(`--partitions-concurrency must be a whole number from 1 to 4 (got "${bad}")`);
    }
  });
});

describe('--rate', () => {
  it('lets items through at the rate asked, on average', async () => {
    const pacer = new Pacer(200);
    const started = Date.now();
    for (let i = 0; i < 60; i += 1) await pacer.take();
    // 60 items at 200/s: about 300 ms (one item may go at once); generous upper bound for a noisy machine.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('does not wait without a rate, refuses a rate that is not positive, and stops on abort', async () => {
    const free = new Pacer(undefined);
    const started = Date.now();
    for (let i = 0; i < 10_000; i += 1) await free.take();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(() => new Pacer(0)).toThrow(/positive number of items per second/);
    const slow = new Pacer(0.1);
    await slow.take();
    const abort = new AbortController();
    const waiting = slow.take(1, abort.signal);
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(RetryAbortedError);
  });
});

describe('progress', () => {
  function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
    const stream = Object.assign(new PassThrough(), { isTTY });
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    return { stream, text: () => text };
  }

  it('writes JSON lines with rate and ETA when not on a terminal, and a final line with the summary', () => {
    let clock = 0;
    const out = capture(false);
    const progress = createProgress({ label: 'replay', total: 100, stream: out.stream, now: () => clock });
    clock = 1_000;
    progress.tick(10);
    clock = 1_500;
    progress.tick(10); // within the interval: no line
    clock = 2_000;
    progress.tick(20);
    progress.done({ skipped: 3 });
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { progress: 'replay', done: 10, total: 100, rate: 10, elapsedSeconds: 1, etaSeconds: 9 },
      { progress: 'replay', done: 40, total: 100, rate: 20, elapsedSeconds: 2, etaSeconds: 3 },
      { progress: 'replay', done: 40, total: 100, rate: 20, elapsedSeconds: 2, etaSeconds: 3, finished: true, skipped: 3 },
    ]);
  });

  it('redraws one line with a bar and an ETA on a terminal', () => {
    let clock = 0;
    const out = capture(true);
    const progress = createProgress({ label: 'redrive', total: 50, stream: out.stream, now: () => clock });
    clock = 5_000;
    progress.tick(25);
    progress.done();
    expect(out.text()).toContain('\r\x1b[Kredrive [############............] 50% 25/50 5/s ETA 5s');
    expect(out.text().endsWith('redrive [############............] 50% 25/50 5/s in 5s\n')).toBe(true);
  });
});
