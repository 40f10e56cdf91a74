import { DiagLogLevel, context, diag, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SpanCapture } from './console-trace';
import { createLogger } from './logger';

/**
 * The OpenTelemetry trace SDK of a Tidings process: a tracer provider exporting over
 * OTLP/HTTP (JSON) in batches, and AsyncLocalStorage as context manager, so the spans of the
 * library (tracing.ts, which only uses the api) are recorded. Registered by the CLI's
 * long-running commands (`run`, `api`, `demo`) only when an endpoint is configured; a service
 * embedding the SDK registers its own (e.g. @opentelemetry/sdk-node) and Tidings' spans join it.
 */
export interface TelemetryOptions {
  /** `service.name` unless OTEL_SERVICE_NAME sets it. */
  serviceName: string;
  /** Where OTEL_* settings are read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Keep finished spans in memory for `capture` (the demo's `--otel-console`), exporter or not. */
  capture?: boolean;
}

export interface Telemetry {
  /** Spans go to an OTLP endpoint. */
  readonly exporting: boolean;
  /** The in-memory spans, when asked for with `capture`. */
  readonly capture: SpanCapture | undefined;
  /** Exports the spans ended so far. */
  forceFlush(): Promise<void>;
  /** Exports what is left (for at most 5 s) and unregisters the provider. Idempotent. */
  shutdown(): Promise<void>;
}

const DISABLED: Telemetry = { exporting: false, capture: undefined, forceFlush: async () => undefined, shutdown: async () => undefined };

let current: Telemetry | undefined;

/** A collector that does not answer must not hold a stopping worker (its exports are given up). */
const SHUTDOWN_TIMEOUT_MS = 5_000;

function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([work.then(noop, noop), late]).finally(() => clearTimeout(timer));
}

function noop(): void {}

/** The OTLP/HTTP traces URL the environment names, per the OpenTelemetry spec: the signal's own endpoint as is, or the base endpoint + `/v1/traces`. */
export function otlpTracesUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const own = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (own) return own;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/**
 * Registers the SDK when the environment names an OTLP endpoint (or `capture` is asked for);
 * otherwise registers nothing and returns a handle that does nothing: no span is recorded and
 * the publisher keeps its cheap path. One per process, like OpenTelemetry's globals.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (current) return current;
  const env = options.env ?? process.env;
  const url = otlpTracesUrl(env);
  const capture = options.capture ? new SpanCapture() : undefined;
  const processors: SpanProcessor[] = [];
  if (url) processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
  if (capture) processors.push(capture);
  if (processors.length === 0) return DISABLED;

  // Export failures (collector down) are worth a warning, not silence.
  const logger = createLogger('opentelemetry');
  diag.setLogger({ error: (m) => logger.warn(m), warn: (m) => logger.warn(m), info: () => undefined, debug: () => undefined, verbose: () => undefined }, DiagLogLevel.WARN);

  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME?.trim() || options.serviceName }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: processors });
  if (!trace.setGlobalTracerProvider(provider)) {
    // Someone registered a provider first: Tidings' spans go to theirs.
    void provider.shutdown();
    return DISABLED;
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

  let stopped: Promise<void> | undefined;
  const telemetry: Telemetry = {
    exporting: url !== undefined,
    capture,
    forceFlush: () => provider.forceFlush(),
    shutdown: () =>
      (stopped ??= settledWithin(provider.shutdown(), SHUTDOWN_TIMEOUT_MS).finally(() => {
        trace.disable();
        context.disable();
        diag.disable();
        current = undefined;
      })),
  };
  current = telemetry;
  return telemetry;
}

/** The SDK this process registered through startTelemetry, if any. */
export function currentTelemetry(): Telemetry | undefined {
  return current;
}
