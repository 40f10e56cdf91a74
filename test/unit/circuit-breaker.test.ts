import { ProviderError, RecipientUnreachableError } from '../../src/errors';
import { CircuitBreaker, CircuitOpenError } from '../../src/notifications/providers/circuit-breaker';
import { renderMetrics } from '../../src/observability/metrics';
import { Scrape, parsePrometheusText } from '../helpers/prometheus';

const unavailable = (): ProviderError => new ProviderError('smtp-a', 'connection refused', { retriable: true });

/** A clock the test moves by hand, so cool-downs pass without waiting. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** `tidings_circuit_breaker_state` of `provider` as a scrape of the registry reads it. */
async function gauge(provider: string): Promise<number[]> {
  return new Scrape(parsePrometheusText(await renderMetrics())).series('tidings_circuit_breaker_state', { provider }).map((s) => s.value);
}

function failTimes(breaker: CircuitBreaker, n: number, error: unknown = unavailable()): void {
  for (let i = 0; i < n; i++) {
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record({ ok: false, error });
  }
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and opens on the Nth consecutive retriable failure', () => {
    const breaker = new CircuitBreaker('smtp-a', { failureThreshold: 3, cooldownMs: 10_000, now: manualClock().now });
    failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('counts only consecutive failures: a success in between starts the count again', () => {
    const breaker = new CircuitBreaker('smtp-a', { failureThreshold: 3 });
    failTimes(breaker, 2);
    breaker.tryAcquire();
    breaker.record({ ok: true });
    failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
  });

  it('does not count answers that prove the provider is up (dead recipient, non-retriable rejection)', () => {
    const breaker = new CircuitBreaker('twilio', { failureThreshold: 2 });
    failTimes(breaker, 1);
    failTimes(breaker, 1, new RecipientUnreachableError('twilio', '+15550000000', 'invalid number'));
    failTimes(breaker, 1, new ProviderError('twilio', 'HTTP 401', { retriable: false }));
    failTimes(breaker, 1);
    expect(breaker.state).toBe('closed');
  });

  it('after the cool-down lets exactly one trial through, and a successful trial closes the circuit', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker('smtp-a', { failureThreshold: 1, cooldownMs: 30_000, now: clock.now });
    failTimes(breaker, 1);
    clock.advance(29_999);
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    clock.advance(1);
    expect(breaker.state).toBe('half_open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.record({ ok: true });
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('re-opens for a full cool-down when the trial fails', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker('smtp-a', { failureThreshold: 2, cooldownMs: 1_000, now: clock.now });
    failTimes(breaker, 2);
    clock.advance(1_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record({ ok: false, error: unavailable() });
    expect(breaker.state).toBe('open');
    expect(breaker.retryAt).toBe(clock.now() + 1_000);
    clock.advance(999);
    expect(breaker.tryAcquire()).toBe(false);
    clock.advance(1);
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('run() refuses without calling while open, with a retriable CircuitOpenError', async () => {
    const breaker = new CircuitBreaker('fcm', { failureThreshold: 1, now: manualClock().now });
    await expect(breaker.run(() => Promise.reject(unavailable()))).rejects.toBeInstanceOf(ProviderError);
    const call = jest.fn(() => Promise.resolve('sent'));
    const refused = breaker.run(call);
    await expect(refused).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(refused).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', retriable: true, provider: 'fcm' });
    expect(call).not.toHaveBeenCalled();
  });

  it('uses documented defaults: 5 failures, 30 s cool-down', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker('smtp-a', { now: clock.now });
    failTimes(breaker, 4);
    expect(breaker.state).toBe('closed');
    failTimes(breaker, 1);
    expect(breaker.retryAt).toBe(clock.now() + 30_000);
  });

  it('the state gauge reads what a call would find at scrape time: half-open once the cool-down has passed, before any call', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker('gauge-smtp', { failureThreshold: 2, cooldownMs: 10_000, now: clock.now });
    expect(await gauge('gauge-smtp')).toEqual([0]);
    failTimes(breaker, 2);
    expect(await gauge('gauge-smtp')).toEqual([2]);
    clock.advance(9_999);
    expect(await gauge('gauge-smtp')).toEqual([2]);
    // No call since it opened: the next one would be the trial.
    clock.advance(1);
    expect(await gauge('gauge-smtp')).toEqual([1]);
    expect(breaker.tryAcquire()).toBe(true);
    expect(await gauge('gauge-smtp')).toEqual([1]);
    breaker.record({ ok: false, error: unavailable() });
    expect(await gauge('gauge-smtp')).toEqual([2]);
    clock.advance(10_000);
    expect(await gauge('gauge-smtp')).toEqual([1]);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record({ ok: true });
    expect(await gauge('gauge-smtp')).toEqual([0]);
  });

  it('rejects options that cannot work, naming the field', () => {
    expect(() => new CircuitBreaker('x', { failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker('x', { cooldownMs: -1 })).toThrow(/cooldownMs/);
  });
});
