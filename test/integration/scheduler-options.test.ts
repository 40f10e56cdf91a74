import { startScheduler } from '../../consumers/scheduler';
import { resolveEndpoints } from '../../src/config/env';
import { ConfigError } from '../../src/errors';
import { Platform } from '../../src/platform';
import { schedulerSettings, type SchedulerOptions } from '../../src/scheduler/options';

const DAY = 86_400_000;

describe('scheduler options: one schema with defaults, a bad value refused by name before anything starts', () => {
  // Nothing listens on these ports: a scheduler that got as far as connecting would fail
  // with a connection error (after a timeout), not with the ConfigError asserted here.
  const platform = new Platform({
    endpoints: { ...resolveEndpoints(), kafkaBrokers: ['127.0.0.1:1'], databaseUrl: 'postgres://postgres@127.0.0.1:1/none', smtpUrl: 'smtp://127.0.0.1:1' },
    clientId: 'scheduler-options-test',
  });

  afterAll(() => platform.close());

  const refusals: Array<[string, SchedulerOptions, RegExp]> = [
    ['a retry tier past setTimeout’s limit (30 days)', { retryDelaysMs: [10_000, 30 * DAY] }, /retryDelaysMs\.1 must be at most 2147483647 ms \(about 24\.8 days\)/],
    ['a retry delay past setTimeout’s limit', { retryDelayMs: 25 * DAY }, /retryDelayMs must be at most 2147483647 ms/],
    ['a poll interval of 2^31 ms', { pollIntervalMs: 2 ** 31 }, /pollIntervalMs must be at most 2147483647 ms/],
    ['an outage backoff past the limit', { outageBackoff: { initialMs: 200, maxMs: 25 * DAY } }, /outageBackoff\.maxMs must be at most 2147483647 ms/],
    ['a session timeout past the broker’s limit', { sessionTimeoutMs: 25 * DAY }, /sessionTimeoutMs /],
    ['a lease of 0', { leaseMs: 0 }, /leaseMs /],
    ['a chunk size of 0', { chunkSize: 0 }, /chunkSize /],
    ['a fractional batch size', { batchSize: 2.5 }, /batchSize /],
    ['digest hour 24', { digestHour: 24 }, /digestHour /],
    ['a backoff ceiling under its start', { outageBackoff: { initialMs: 1_000, maxMs: 10 } }, /outageBackoff\.maxMs must be at least initialMs/],
    ['a retry delay ceiling under the delay', { retryDelayMs: 60_000, maxRetryDelayMs: 1_000 }, /maxRetryDelayMs must be at least retryDelayMs/],
    ['an email channel without sendWithAttempts', { email: {} as never }, /email must be a ChannelSender/],
    ['a misspelt option', { pollInterval: 50 } as SchedulerOptions, /Unrecognized key.*pollInterval/],
  ];

  it.each(refusals)('refuses %s, naming the option', async (_what, options, message) => {
    const started = Date.now();
    const failure = await startScheduler(platform, options).then(
      (scheduler) => scheduler.stop().then(() => new Error('started')),
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ConfigError);
    // The runtime's own options (chunk size, retry tiers, session timeout) are checked by its schema.
    expect((failure as Error).message).toMatch(/^invalid (scheduler|consumer runtime) options: /);
    expect((failure as Error).message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('fills in every default, and keeps a delay of exactly 2^31 − 1 ms', () => {
    const settings = schedulerSettings({ maxRetryDelayMs: 2 ** 31 - 1 });
    expect(settings).toMatchObject({
      groupId: 'tidings.scheduler',
      reminderLeadDays: 3,
      digestHour: 8,
      pollIntervalMs: 1_000,
      batchSize: 10,
      leaseMs: 300_000,
      maxAttempts: 8,
      retryDelayMs: 60_000,
      maxRetryDelayMs: 2 ** 31 - 1,
      outageBackoff: { initialMs: 200, maxMs: 30_000 },
    });
    expect(settings.instanceId).toMatch(/^.+:\d+:[0-9a-f]{6}$/);
    expect(settings.clock.now()).toBeGreaterThan(0);
  });
});
