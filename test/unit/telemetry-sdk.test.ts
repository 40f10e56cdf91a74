import { trace } from '@opentelemetry/api';
import { otlpTracesUrl, startTelemetry } from '../../src/observability/telemetry-sdk';
import { tracingEnabled } from '../../src/observability/tracing';

describe('the OpenTelemetry SDK of a Tidings process', () => {
  it('registers nothing when no OTLP endpoint is set: no span is recorded, nothing is exported', async () => {
    const telemetry = startTelemetry({ serviceName: 'unit', env: { OTEL_SERVICE_NAME: 'ignored-without-endpoint' } });
    expect(telemetry.exporting).toBe(false);
    expect(tracingEnabled()).toBe(false);
    expect(trace.getTracer('unit').startSpan('x').isRecording()).toBe(false);
    await telemetry.shutdown();
  });

  it('registers a provider when an endpoint is set, and unregisters it at shutdown', async () => {
    const telemetry = startTelemetry({ serviceName: 'unit', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' } });
    try {
      expect(telemetry.exporting).toBe(true);
      expect(tracingEnabled()).toBe(true);
      expect(trace.getTracer('unit').startSpan('x').isRecording()).toBe(true);
    } finally {
      await telemetry.shutdown();
    }
    expect(tracingEnabled()).toBe(false);
  });

  it('reads the traces URL as the OpenTelemetry spec says', () => {
    expect(otlpTracesUrl({})).toBeUndefined();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/custom' })).toBe('http://b:4318/custom');
  });
});
