import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { createKafka } from '../../src/kafka/client';
import { createLogger } from '../../src/observability/logger';
import { isCardNumber } from '../../src/events/card-data';
import { scrubText } from '../../src/observability/redaction';
import { startTelemetry, type Telemetry } from '../../src/observability/telemetry-sdk';

/** A logger whose JSON lines are kept, parsed. */
function capturedLogger(name: string, level = 'debug'): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger(name, level, stream);
  return {
    logger,
    lines: () => chunks.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
    raw: () => chunks.join(''),
  };
}

// Luhn-valid test numbers (Visa, Mastercard, Amex), as card networks publish them for testing.
const VISA = '4111111111111111';
const MASTERCARD = '5500005555555559';
const AMEX = '378282246310005';

describe('logs: trace ids and redaction', () => {
  describe('inside a span', () => {
    let telemetry: Telemetry;
    beforeAll(() => {
      // An in-memory SDK (no exporter): spans are real, so the active context has ids.
      telemetry = startTelemetry({ serviceName: 'logger-test', env: {}, capture: true });
    });
    afterAll(() => telemetry.shutdown());

    it('a line written inside an active span carries its trace_id and span_id; one outside carries neither', () => {
      const { logger, lines } = capturedLogger('traced');
      const span = trace.getTracer('test').startSpan('work');
      trace.getTracer('test').startActiveSpan('outer', (outer) => {
        logger.info('inside');
        outer.end();
      });
      logger.info('outside');
      span.end();
      const [inside, outside] = lines();
      expect(inside).toMatchObject({ msg: 'inside', trace_id: expect.stringMatching(/^[0-9a-f]{32}$/), span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(outside?.msg).toBe('outside');
      expect(outside).not.toHaveProperty('trace_id');
      expect(outside).not.toHaveProperty('span_id');
    });

    it('the ids are those of the span the line was written in', async () => {
      const { logger, lines } = capturedLogger('traced');
      let ids: { traceId: string; spanId: string } | undefined;
      await trace.getTracer('test').startActiveSpan('async work', async (span) => {
        ids = span.spanContext();
        await new Promise((resolve) => setTimeout(resolve, 5));
        logger.warn({ step: 2 }, 'after an await');
        span.end();
      });
      expect(lines()[0]).toMatchObject({ trace_id: ids?.traceId, span_id: ids?.spanId, step: 2 });
    });
  });

  it('masks contact details and card numbers in named fields, nested objects, messages and error text', () => {
    const { logger, raw, lines } = capturedLogger('redaction');
    logger.warn(
      {
        email: 'ada@example.com',
        recipient: { email: 'ada@example.com', phone: '+15551234567', name: 'Ada Lovelace' },
        payment: { card_number: VISA, cvv: '123' },
        note: `card ${MASTERCARD.replace(/(\d{4})/g, '$1 ').trim()} on file for grace@example.org`,
        // nodemailer keeps the server's reply, quoting the address, in a field of the error.
        err: Object.assign(new Error(`mailbox ada@example.com refused; sms to +15551234567 failed; card ${AMEX}`), { response: '451 4.2.0 <ada@example.com> busy', responseCode: 451 }),
        ids: ['0e3d3c3e-1111-4111-8111-111111111111', '1760000000000'],
      },
      `delivery to ada@example.com with card ${VISA} failed`,
    );
    const text = raw();
    for (const secret of ['ada@example.com', 'grace@example.org', '+15551234567', 'Ada Lovelace', VISA, MASTERCARD, '5500 0055 5555 5559', AMEX, '"123"']) {
      expect([secret, text.includes(secret)]).toEqual([secret, false]);
    }
    const [line] = lines();
    expect(line?.msg).toBe('delivery to ***@example.com with card [card] failed');
    expect(line?.email).toBe('[redacted]');
    expect(line?.recipient).toBe('[redacted]');
    expect(line?.note).toBe('card [card] on file for ***@example.org');
    expect((line?.err as { message: string }).message).toBe('mailbox ***@example.com refused; sms to +*** failed; card [card]');
    expect(line?.err).toMatchObject({ type: 'Error', response: '451 4.2.0 <***@example.com> busy', responseCode: 451 });
    // Ids and timestamps are not card numbers.
    expect(line?.ids).toEqual(['0e3d3c3e-1111-4111-8111-111111111111', '1760000000000']);
  });

  it('masks an error logged on its own, message and stack', () => {
    const { logger, raw } = capturedLogger('redaction');
    logger.error(new Error('SMTP 451 mailbox grace@example.com busy'));
    expect(raw()).not.toContain('grace@example.com');
    expect(raw()).toContain('***@example.com');
  });

  it('tells card numbers from other digit runs', () => {
    expect([VISA, MASTERCARD, AMEX].map(isCardNumber)).toEqual([true, true, true]);
    expect(isCardNumber('4111111111111112')).toBe(false); // Luhn fails
    expect(isCardNumber('1760000000018')).toBe(false); // an epoch-ms timestamp
    expect(scrubText('order 12345678901234567890123 shipped')).toBe('order 12345678901234567890123 shipped');
    expect(scrubText('already masked a***@example.com')).toBe('already masked a***@example.com');
  });

  describe("kafkajs' own lines", () => {
    const kafkaLines = (): { log: ReturnType<typeof createKafka>['logger'] extends () => infer L ? L : never; lines: () => Array<Record<string, unknown>> } => {
      const captured = capturedLogger('kafkajs');
      const kafka = createKafka({ brokers: ['127.0.0.1:1'], logger: captured.logger });
      return { log: kafka.logger(), lines: captured.lines };
    };

    it('go through the same logger, the transient errors of a fresh broker at debug', () => {
      const { log, lines } = kafkaLines();
      log.error('Response Metadata(key: 3, version: 6)', { broker: '127.0.0.1:9092', error: 'There is no leader for this topic-partition as we are in the middle of a leadership election' });
      log.error('Response FindCoordinator(key: 10, version: 2)', { error: "The coordinator is loading and hence can't process requests for this group" });
      log.error('Response JoinGroup(key: 11, version: 5)', { error: 'The group coordinator is not available' });
      log.warn('The group is rebalancing, re-joining', { error: 'The group is rebalancing, so a rejoin is needed' });
      log.error('Failed to send messages: This server is not the leader for that topic-partition', { retryCount: 1 });
      // A topic created a moment ago, before every broker serves it.
      log.error('Response Metadata(key: 3, version: 6)', { error: 'This server does not host this topic-partition' });
      expect(lines().map((l) => [l.msg, l.level])).toEqual([
        ['Response Metadata(key: 3, version: 6)', 20],
        ['Response FindCoordinator(key: 10, version: 2)', 20],
        ['Response JoinGroup(key: 11, version: 5)', 20],
        ['The group is rebalancing, re-joining', 20],
        ['Failed to send messages: This server is not the leader for that topic-partition', 20],
        ['Response Metadata(key: 3, version: 6)', 20],
      ]);
      expect(lines()[0]).toMatchObject({ name: 'kafkajs', broker: '127.0.0.1:9092' });
    });

    it('keep other problems visible: protocol errors as warnings, a crash as an error', () => {
      const { log, lines } = kafkaLines();
      log.error('Response SaslAuthenticate(key: 36, version: 1)', { error: 'Request is not valid given the current SASL state' });
      log.error('Crash: KafkaJSNumberOfRetriesExceeded: There is no leader for this topic-partition as we are in the middle of a leadership election', { groupId: 'g' });
      expect(lines().map((l) => l.level)).toEqual([40, 50]);
    });
  });
});
