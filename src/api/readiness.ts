import { Kafka, logLevel } from 'kafkajs';
import { readPemFile } from '../config/pem-file';
import type { Db } from '../db/database';
import { describe } from '../errors';
import { kafkaSecurityConfig, type KafkaSecurity } from '../kafka/client';
import type { Logger } from '../observability/logger';
import { RegistryHttp, type RegistryCredentials } from '../registry/registry-http';

/** How long one dependency may take to answer before it counts as down. */
const PROBE_TIMEOUT_MS = 3000;

export interface ProbeResult {
  ok: boolean;
  ms: number;
  /** Why it is not ready, without hosts or credentials (the log has the full error). */
  reason?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, ProbeResult>;
}

type Probe = () => Promise<void>;

export interface ReadinessTargets {
  db: Db;
  kafkaBrokers?: string[];
  /** SASL login and TLS of the brokers, as the process's own clients use them. */
  kafkaSecurity?: KafkaSecurity;
  /** Base URL of the Confluent-compatible registry API. */
  schemaRegistryUrl?: string;
  /** The registry's credentials and CA file, as the process's own registry client uses them. */
  schemaRegistryCredentials?: RegistryCredentials;
  schemaRegistryCaFile?: string;
  /**
   * A worker's own part, checked as `group`: whether its consumer group has joined (the outbox
   * relay: whether it has started). Absent for the API.
   */
  joined?: () => boolean;
  logger: Logger;
}

/** A probe that failed for a reason of its own, reported as is (no dependency was unreachable). */
class NotReadyError extends Error {}

/**
 * Whether the process can serve: PostgreSQL answers a query, a Kafka broker answers a metadata
 * request and the schema registry its config, each within 3 s, and a worker's group has
 * joined. Probes run together, and concurrent callers share one round.
 */
export function readinessCheck(targets: ReadinessTargets): () => Promise<Readiness> {
  const probes: Record<string, Probe> = {
    postgres: async () => {
      await targets.db.raw('SELECT 1');
    },
  };
  if (targets.kafkaBrokers) {
    // Its own client, without retries, so a broker that is down is reported at once.
    const kafka = new Kafka({
      clientId: 'tidings-readiness',
      brokers: targets.kafkaBrokers,
      ...kafkaSecurityConfig(targets.kafkaSecurity),
      logLevel: logLevel.NOTHING,
      connectionTimeout: PROBE_TIMEOUT_MS,
      requestTimeout: PROBE_TIMEOUT_MS,
      retry: { retries: 0 },
    });
    probes.kafka = async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.describeCluster();
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
  }
  if (targets.schemaRegistryUrl) {
    // The same client as the process's registry calls (TLS, credentials), answering once.
    const registry = new RegistryHttp({
      url: targets.schemaRegistryUrl.replace(/\/+$/, ''),
      requestTimeoutMs: PROBE_TIMEOUT_MS,
      retry: { maxAttempts: 1, initialMs: 1, maxMs: 1 },
      logger: targets.logger,
      credentials: targets.schemaRegistryCredentials,
      ca: targets.schemaRegistryCaFile === undefined ? undefined : readPemFile(targets.schemaRegistryCaFile, 'SCHEMA_REGISTRY_CA_FILE'),
    });
    probes.registry = async () => {
      // `/config` is cheap; `/subjects` grows with every subject.
      await registry.call('readiness probe', 'GET', '/config');
    };
  }
  const { joined } = targets;
  if (joined) {
    probes.group = async () => {
      if (!joined()) throw new NotReadyError('not joined yet');
    };
  }
  let round: Promise<Readiness> | undefined;
  return () => {
    round ??= runProbes(probes, targets.logger).finally(() => (round = undefined));
    return round;
  };
}

async function runProbes(probes: Record<string, Probe>, logger: Logger): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(probes).map(async ([name, probe]): Promise<[string, ProbeResult]> => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      });
      try {
        await Promise.race([probe(), timeout]);
        return [name, { ok: true, ms: Date.now() - started }];
      } catch (error) {
        if (error instanceof NotReadyError) return [name, { ok: false, ms: Date.now() - started, reason: error.message }];
        logger.warn({ dependency: name, error: describe(error) }, 'readiness check failed');
        const timedOut = Date.now() - started >= PROBE_TIMEOUT_MS;
        return [name, { ok: false, ms: Date.now() - started, reason: timedOut ? `no answer within ${PROBE_TIMEOUT_MS} ms` : 'unreachable or refused' }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const checks = Object.fromEntries(entries);
  return { ready: entries.every(([, result]) => result.ok), checks };
}

/** The `/readyz` answer, the same from the API and a worker: 200 when ready, else 503 naming what is not. */
export function readinessResponse({ ready, checks }: Readiness): { status: 200 | 503; body: { status: 'ready' | 'not_ready'; ready: boolean; checks: Record<string, ProbeResult> } } {
  return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not_ready', ready, checks } };
}
