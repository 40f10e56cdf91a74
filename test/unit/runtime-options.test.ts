import { Kafka } from 'kafkajs';
import { ConsumerRuntime } from '../../src/consumer/consumer-runtime';
import type { EventHandler } from '../../src/consumer/event-handler';
import { consumerRuntimeSettings, type RuntimeSettingsInput } from '../../src/consumer/runtime-options';
import type { Db } from '../../src/db/database';
import { ConfigError } from '../../src/errors';
import type { EventRegistry } from '../../src/registry/event-registry';

const base: RuntimeSettingsInput = { groupId: 'tidings.test', name: 'test', topics: ['auth.events', 'payment.events'] };

function refusal(input: Partial<RuntimeSettingsInput>): string {
  try {
    consumerRuntimeSettings({ ...base, ...input });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('accepted');
}

describe('consumer runtime options', () => {
  it('fills in the documented defaults', () => {
    expect(consumerRuntimeSettings(base)).toEqual({
      ...base,
      orderedTopics: [],
      retryDelaysMs: [10_000, 60_000, 600_000, 3_600_000],
      chunkSize: 500,
      partitionsConcurrency: 1,
      fromBeginning: true,
      sessionTimeoutMs: 30_000,
      outageBackoff: { initialMs: 200, maxMs: 30_000 },
      // Twice the longest delay (1 h) plus 10 min.
      maxHoldAgeMs: 2 * 3_600_000 + 600_000,
    });
    expect(consumerRuntimeSettings({ ...base, retryDelaysMs: [1_000, 5_000] }).maxHoldAgeMs).toBe(610_000);
  });

  it('refuses a chunk size outside 1..10 000, naming the option', () => {
    expect(refusal({ chunkSize: 0 })).toMatch(/^invalid consumer runtime options: chunkSize .*>=1/);
    expect(refusal({ chunkSize: 10_001 })).toMatch(/chunkSize .*<=10000/);
    expect(refusal({ chunkSize: 2.5 })).toMatch(/chunkSize .*int/);
  });

  it('refuses partitions worked on at once outside 1..4, naming the option', () => {
    expect(refusal({ partitionsConcurrency: 0 })).toMatch(/^invalid consumer runtime options: partitionsConcurrency .*>=1/);
    expect(refusal({ partitionsConcurrency: 5 })).toMatch(/partitionsConcurrency .*<=4/);
    expect(refusal({ partitionsConcurrency: 1.5 })).toMatch(/partitionsConcurrency .*int/);
    expect(consumerRuntimeSettings({ ...base, partitionsConcurrency: 4 }).partitionsConcurrency).toBe(4);
  });

  it("refuses a session timeout outside the broker's 6 s..30 min", () => {
    expect(refusal({ sessionTimeoutMs: 5_999 })).toMatch(/sessionTimeoutMs .*>=6000/);
    expect(refusal({ sessionTimeoutMs: 1_800_001 })).toMatch(/sessionTimeoutMs .*<=1800000/);
  });

  it('refuses a retry delay that setTimeout cannot honour (past 24.8 days) or that is not positive', () => {
    expect(refusal({ retryDelaysMs: [10_000, 25 * 24 * 3_600_000] })).toMatch(/retryDelaysMs\.1 must be at most 2147483647 ms \(about 24\.8 days\): a longer delay overflows setTimeout/);
    expect(refusal({ retryDelaysMs: [0] })).toMatch(/retryDelaysMs\.0 /);
    expect(refusal({ retryDelaysMs: [] })).toMatch(/retryDelaysMs /);
    expect(consumerRuntimeSettings({ ...base, retryDelaysMs: [2 ** 31 - 1] }).retryDelaysMs).toEqual([2 ** 31 - 1]);
  });

  it('refuses an outage backoff whose ceiling is below its start', () => {
    expect(refusal({ outageBackoff: { initialMs: 1_000, maxMs: 500 } })).toMatch(/outageBackoff\.maxMs must be at least initialMs/);
    expect(refusal({ outageBackoff: { initialMs: 0, maxMs: 500 } })).toMatch(/outageBackoff\.initialMs /);
    expect(refusal({ outageBackoff: { initialMs: 200, maxMs: 2 ** 31 } })).toMatch(/outageBackoff\.maxMs must be at most 2147483647 ms/);
  });

  it('refuses a maximum hold age not longer than the longest retry delay, which would break every line', () => {
    expect(refusal({ retryDelaysMs: [1_000, 60_000], maxHoldAgeMs: 60_000 })).toMatch(/maxHoldAgeMs must be longer than the longest retry delay \(60000 ms\)/);
    expect(consumerRuntimeSettings({ ...base, retryDelaysMs: [1_000, 60_000], maxHoldAgeMs: 60_001 }).maxHoldAgeMs).toBe(60_001);
  });

  it('refuses ordered topics that are not among the sources', () => {
    expect(refusal({ orderedTopics: ['payments'] })).toMatch(/orderedTopics must be among topics \(not: payments\)/);
  });

  it('validates at construction: the runtime is refused before it touches Kafka or PostgreSQL', () => {
    const make = (chunkSize: number): ConsumerRuntime =>
      new ConsumerRuntime({
        ...base,
        kafka: new Kafka({ brokers: ['127.0.0.1:1'] }),
        db: {} as Db,
        registry: {} as EventRegistry,
        handler: {} as EventHandler,
        chunkSize,
      });
    expect(() => make(0)).toThrow(ConfigError);
    expect(() => make(0)).toThrow(/chunkSize/);
    expect(make(100).groupId).toBe('tidings.test');
  });
});
