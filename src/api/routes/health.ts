import { readinessCheck, readinessResponse } from '../readiness';
import { route, type Route, type RouteDeps } from '../route';

/** Liveness (the process serves HTTP) and readiness (PostgreSQL, Kafka and the registry answer). */
export function healthRoutes({ db, platform, logger }: RouteDeps): Route[] {
  const endpoints = platform?.endpoints;
  const readiness = readinessCheck({
    db,
    kafkaBrokers: endpoints?.kafkaBrokers,
    kafkaSecurity: endpoints?.kafkaSecurity,
    schemaRegistryUrl: endpoints?.schemaRegistryUrl,
    schemaRegistryCredentials: endpoints?.schemaRegistryCredentials,
    schemaRegistryCaFile: endpoints?.schemaRegistryCaFile,
    logger,
  });
  return [
    route({
      method: 'get',
      path: '/healthz',
      operationId: 'liveness',
      tag: 'health',
      summary: 'Liveness: the process answers HTTP',
      description: 'Checks no dependency, so an outage of PostgreSQL or Kafka does not get healthy API processes restarted.',
      access: { kind: 'public' },
      ok: '`{status: "ok"}`',
      handle: async () => ({ body: { status: 'ok' } }),
    }),
    route({
      method: 'get',
      path: '/readyz',
      operationId: 'readiness',
      tag: 'health',
      summary: 'Readiness: PostgreSQL, Kafka and the schema registry each answer within 3 s',
      access: { kind: 'public' },
      ok: '`{status: "ready", ready: true, checks: {postgres: {ok, ms}, kafka: {ok, ms}, registry: {ok, ms}}}`',
      otherResponses: { 503: 'A dependency did not answer: `{status: "not_ready", ready: false, checks}` names it, with the reason.' },
      handle: async () => readinessResponse(await readiness()),
    }),
  ];
}
