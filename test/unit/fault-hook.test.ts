import { installFaultHookFromEnv } from '../../src/cli/fault-hook';
import { ConfigError } from '../../src/errors';
import { faultPoint, setFaultHook } from '../../src/observability/fault-injection';

describe('fault points', () => {
  afterEach(() => setFaultHook(undefined));

  it('the library ignores TIDINGS_FAULT: only an installed hook sees fault points', () => {
    const seen: string[] = [];
    process.env.TIDINGS_FAULT = 'consumer.before-offset-commit';
    try {
      faultPoint('consumer.before-offset-commit'); // would SIGKILL this process if the library read the env
      setFaultHook((point) => seen.push(point));
      faultPoint('consumer.before-offset-commit');
    } finally {
      delete process.env.TIDINGS_FAULT;
    }
    expect(seen).toEqual(['consumer.before-offset-commit']);
  });

  it('a malformed TIDINGS_FAULT is refused by name', () => {
    expect(() => installFaultHookFromEnv('outbox.after-ack:0')).toThrow(ConfigError);
    expect(() => installFaultHookFromEnv('outbox.after-ack:0')).toThrow(/TIDINGS_FAULT must be <point>\[:<n>\]/);
  });
});
