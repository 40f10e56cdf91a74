import type { Message } from 'kafkajs';
import type { Db, Trx } from '../db/database';
import { unnestInsert } from '../db/unnest-insert';
import { CardDataError, EventValidationError, MalformedMessageError, TidingsError, UserErasedError } from '../errors';
import { openPersonalFields, type DataKeyReader } from '../crypto/personal-fields';
import { ChunkKeys } from './chunk-keys';
import { withCardDataMasked } from './card-data-dead-letter';
import { ErasedEventError } from './erased-event';
import { isEventType } from '../events/catalog';
import type { EventType } from '../events/generated';
import { EVENT_TYPE_HEADER } from '../producer/publisher';
import { validateEvent } from '../events/validate';
import type { Logger } from '../observability/logger';
import type { EventRegistry } from '../registry/event-registry';
import type { EventHandler, RecordDecoder } from './event-handler';
import { ChunkOutcomes } from './chunk-outcomes';
import { attemptsOf, failureHeaders, originOf } from './failure-headers';
import { ChunkTracing } from './record-tracing';
import type { Hold, KeyHolds } from './key-holds';
import type { EventRecord, InboundRecord } from './messages';
import { dlqTopic, retryTopic, roleOf, type RetryTopology } from './retry-topology';

export interface ConsumerStats {
  processed: number;
  /** Records of event types another lane handles: committed without any work. */
  skipped: number;
  /** Events of erased users (their data key destroyed): recorded in the inbox and skipped. */
  erased: number;
  duplicates: number;
  malformed: number;
  retried: number;
  deadLettered: number;
  heldBack: number;
  chunks: number;
  infrastructureRetries: number;
  /** Times this instance's consumers (main and retry groups) joined their group, the first join included. */
  groupJoins: number;
  /** Rebalances this instance's consumers went through after their first join. */
  rebalances: number;
}

export interface Route {
  topic: string;
  message: Message;
}

export interface ChunkProcessorOptions {
  db: Db;
  registry: EventRegistry;
  groupId: string;
  topology: RetryTopology;
  /** Source topics whose keys keep their order through retries (payment events). */
  orderedSources: ReadonlySet<string>;
  holds: KeyHolds;
  handler: EventHandler;
  /** Which event types this group handles (a lane); the others are skipped. Default: all. */
  lane?: Lane;
  logger: Logger;
  stats: ConsumerStats;
  now?: () => number;
  /** Default: decoded through `registry` and checked against the business rules. */
  decode?: RecordDecoder;
  /** Users' data keys, to open sealed personal fields. Without them a sealed record pauses the group (KeyUnavailableError). */
  dataKeys?: DataKeyReader;
}

export interface Lane {
  accepts(type: EventType): boolean;
  /** Whether undecodable records are this lane's to dead-letter (exactly one lane should). */
  handlesMalformed: boolean;
}

type Pending = { event: EventRecord; source: string; key: string | null };
type HoldEntry = { topic: string; key: string; eventId: string; tier: number };

function lineKey(p: Pending): string {
  return `${p.source}\u0000${p.key ?? ''}`;
}

/**
 * One chunk of records from one partition, start to finish: decode, decide what is held
 * back, apply effects exactly once in one transaction, deliver, and work out where each
 * failure goes. Returns the records to produce to retry tiers and DLQs; the caller produces
 * them and only then commits offsets. Everything it throws is infrastructure (database,
 * registry, broker) and means "retry this chunk as it is".
 */
export class ChunkProcessor {
  constructor(private readonly options: ChunkProcessorOptions) {}

  /** `outcomes` gets what became of each record (for the metrics). */
  async process(records: InboundRecord[], outcomes = new ChunkOutcomes()): Promise<Route[]> {
    // A span per record (when tracing is on), ended with the chunk, failed or not.
    const tracing = new ChunkTracing(this.options.groupId);
    let failure: unknown;
    try {
      return await this.processTraced(records, tracing, outcomes);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      tracing.end(failure);
    }
  }

  private async processTraced(records: InboundRecord[], tracing: ChunkTracing, outcomes: ChunkOutcomes): Promise<Route[]> {
    const { stats } = this.options;
    stats.chunks++;
    const routes: Route[] = [];
    const events: Pending[] = [];
    const erased: EventRecord[] = [];
    const lane = this.options.lane;
    // The chunk's data keys in one query, when a record needs one.
    const keys = this.options.dataKeys && new ChunkKeys(this.options.dataKeys, records);
    for (const record of records) {
      const source = roleOf(this.options.topology, record.topic).source;
      // The producer's type header lets another lane's records pass without decoding.
      const declared = record.headers[EVENT_TYPE_HEADER];
      if (lane && declared !== undefined && isEventType(declared) && !lane.accepts(declared)) {
        stats.skipped++;
        outcomes.set(record, 'skipped');
        continue;
      }
      tracing.start(record);
      try {
        const event = await this.decode(record, keys);
        if (lane && !lane.accepts(event.type)) {
          tracing.drop(record);
          stats.skipped++;
          outcomes.set(event, 'skipped');
          continue;
        }
        tracing.identify(record, event);
        events.push({ event, source, key: originOf(record).key });
      } catch (error) {
        if (error instanceof ErasedEventError) {
          // Not bad data and not an outage: nobody can read it any more, so it is skipped.
          tracing.drop(record);
          if (lane && !lane.accepts(error.event.type)) {
            stats.skipped++;
            outcomes.set(record, 'skipped');
          } else erased.push(error.event);
          continue;
        }
        if (!(error instanceof MalformedMessageError || error instanceof EventValidationError)) throw error;
        if (lane && !lane.handlesMalformed) {
          tracing.drop(record);
          stats.skipped++;
          outcomes.set(record, 'skipped');
          continue;
        }
        stats.malformed++;
        this.options.logger.warn({ topic: record.topic, partition: record.partition, offset: record.offset, code: error.code, reason: error.message }, 'malformed message to DLQ');
        // No card number may reach the DLQ: the record goes there with it masked.
        const kept = error instanceof CardDataError ? await withCardDataMasked(this.options.registry, record) : record;
        routes.push(this.deadLetter(record, error, tracing, kept));
        outcomes.set(record, 'dead_letter');
      }
    }
    if (events.length === 0 && erased.length === 0) return routes;

    const lines = await this.loadLines(events);
    // Events waiting in a line are neither applied nor delivered now: they follow the head.
    const runnable = events.filter((p) => !lines.waiting.has(p));
    const fresh = await this.options.db.transaction(async (trx) => {
      const inserted = await recordInInbox(trx, this.options.groupId, [...runnable.map((p) => p.event), ...erased]);
      // `delete` keeps only the first copy when the same event appears twice in one chunk.
      const newEvents = runnable.map((p) => p.event).filter((e) => inserted.delete(e.eventId));
      if (newEvents.length > 0) await tracing.run(() => this.options.handler.apply(newEvents, trx));
      const newErased = erased.filter((e) => inserted.delete(e.eventId));
      if (newErased.length > 0 && this.options.handler.skipErased) await this.options.handler.skipErased(newErased, trx);
      return new Set(newEvents);
    });
    stats.erased += erased.length;
    for (const e of erased) outcomes.set(e, 'erased');
    stats.processed += fresh.size;
    stats.duplicates += runnable.length - fresh.size;

    const { held, holds, releases } = await this.deliverInOrder(events, lines, routes, tracing, outcomes);
    for (const p of held) {
      stats.heldBack++;
      outcomes.set(p.event, 'held');
      const line = lines.byKey.get(lineKey(p)) ?? [];
      const head = line[0];
      // Behind the head, in the head's current tier, so it comes back after it (or at once
      // if it has become the head itself).
      const tier = head && head.eventId !== p.event.eventId ? head.tier : 1;
      routes.push(this.holdBehind(p.event, head?.eventId ?? p.event.eventId, tier, tracing));
      holds.push({ topic: p.source, key: p.key as string, eventId: p.event.eventId, tier });
    }
    // The line is written before the records move: after a crash in between, the redelivered
    // chunk finds the same line and moves the same records again (duplicates are harmless).
    await this.options.holds.hold(holds);
    // An erased event held in its key's line leaves it: it will never be delivered.
    await this.options.holds.release([...releases, ...erased.map((e) => e.eventId)]);
    outcomes.settle(events.map((p) => p.event), fresh);
    return routes;
  }

  private isOrdered(p: Pending): boolean {
    return p.key !== null && this.options.orderedSources.has(p.source);
  }

  private decode(record: InboundRecord, keys: DataKeyReader | undefined): Promise<EventRecord> {
    return this.options.decode ? this.options.decode(record, keys) : decodeEvent(this.options.registry, record, keys);
  }

  /**
   * The lines of the ordered keys in this chunk. An event whose key has a line it does not
   * head (a newcomer from the source topic, or a member behind the head) waits.
   */
  private async loadLines(events: Pending[]): Promise<{ byKey: Map<string, Hold[]>; waiting: Set<Pending> }> {
    const byKey = new Map<string, Hold[]>();
    const bySource = new Map<string, string[]>();
    for (const p of events) if (this.isOrdered(p)) bySource.set(p.source, [...(bySource.get(p.source) ?? []), p.key as string]);
    for (const [source, keys] of bySource) {
      for (const [key, line] of await this.options.holds.lines(source, keys)) byKey.set(`${source}\u0000${key}`, line);
    }
    const waiting = new Set(events.filter((p) => this.mustWait(p, byKey)));
    return { byKey, waiting };
  }

  private mustWait(p: Pending, lines: Map<string, Hold[]>): boolean {
    if (!this.isOrdered(p)) return false;
    const head = lines.get(lineKey(p))?.[0];
    return head !== undefined && head.eventId !== p.event.eventId;
  }

  /**
   * Delivers in waves (the 1st event of every key, then the 2nd…) so a key's events go out
   * in order. On an ordered source an event is delivered only when it heads its key's line
   * (or the key has none); a failure that goes to a retry tier starts or keeps the line, so
   * the key's later events wait behind it. Returns the events left waiting and the line changes.
   */
  private async deliverInOrder(
    events: Pending[],
    lines: { byKey: Map<string, Hold[]>; waiting: Set<Pending> },
    routes: Route[],
    tracing: ChunkTracing,
    outcomes: ChunkOutcomes,
  ): Promise<{ held: Pending[]; holds: HoldEntry[]; releases: string[] }> {
    const held: Pending[] = [];
    const holds: HoldEntry[] = [];
    const releases: string[] = [];
    const waves: Pending[][] = [];
    const position = new Map<string, number>();
    events.forEach((p, i) => {
      const key = p.key === null ? `\u0000${i}` : lineKey(p);
      const n = position.get(key) ?? 0;
      position.set(key, n + 1);
      (waves[n] ??= []).push(p);
    });
    for (const wave of waves) {
      const now: Pending[] = [];
      for (const p of wave) {
        // Waiting from the start, or blocked by an earlier event of its key that just failed.
        if (lines.waiting.has(p) || this.mustWait(p, lines.byKey)) held.push(p);
        else now.push(p);
      }
      const failures = new Map<string, unknown>();
      if (now.length > 0 && this.options.handler.deliver) {
        const deliver = this.options.handler.deliver.bind(this.options.handler);
        for (const f of await tracing.run(() => deliver(now.map((p) => p.event)))) failures.set(f.eventId, f.error);
      }
      for (const p of now) {
        const error = failures.get(p.event.eventId);
        const line = this.isOrdered(p) ? (lines.byKey.get(lineKey(p)) ?? []) : undefined;
        const inLine = line?.findIndex((h) => h.eventId === p.event.eventId) ?? -1;
        if (error === undefined) {
          if (line && inLine >= 0) {
            line.splice(inLine, 1);
            releases.push(p.event.eventId);
          }
          continue;
        }
        const tier = this.nextTier(p.event, error);
        routes.push(tier === undefined ? this.deadLetter(p.event, error, tracing) : this.retry(p.event, error, tier, tracing));
        outcomes.set(p.event, tier === undefined ? 'dead_letter' : 'retry');
        if (!line) continue;
        if (tier === undefined) {
          // The DLQ releases the key: the user's later events go on without it.
          if (inLine >= 0) line.splice(inLine, 1);
          releases.push(p.event.eventId);
        } else {
          if (inLine >= 0) line.splice(inLine, 1, { eventId: p.event.eventId, tier });
          else line.unshift({ eventId: p.event.eventId, tier });
          lines.byKey.set(lineKey(p), line);
          holds.push({ topic: p.source, key: p.key as string, eventId: p.event.eventId, tier });
        }
      }
    }
    return { held, holds, releases };
  }

  /** The tier a failed record goes to next, or undefined for the DLQ. */
  private nextTier(record: InboundRecord, error: unknown): number | undefined {
    const retriable = error instanceof TidingsError ? error.retriable : false;
    const attempts = attemptsOf(record) + 1;
    return retriable && attempts <= this.options.topology.delaysMs.length ? attempts : undefined;
  }

  private retry(record: InboundRecord, error: unknown, tier: number, tracing: ChunkTracing): Route {
    this.options.stats.retried++;
    tracing.fail(record, error, 'retry');
    const now = this.now();
    const delay = this.options.topology.delaysMs[tier - 1] ?? 0;
    const traceparent = tracing.traceparent(record);
    return {
      topic: retryTopic(this.options.topology, originOf(record).topic, tier),
      message: this.message(record, failureHeaders(record, { groupId: this.options.groupId, attempts: tier, dueAt: now + delay, error, now, traceparent })),
    };
  }

  /** `kept`: the record as the DLQ keeps it, when not as it came (card data masked). */
  private deadLetter(record: InboundRecord, error: unknown, tracing: ChunkTracing, kept: InboundRecord = record): Route {
    this.options.stats.deadLettered++;
    tracing.fail(record, error, 'dead_letter');
    const now = this.now();
    const source = originOf(record).topic;
    const traceparent = tracing.traceparent(record);
    return {
      topic: dlqTopic(this.options.topology, source),
      message: this.message(kept, failureHeaders(kept, { groupId: this.options.groupId, attempts: attemptsOf(record) + 1, dueAt: now, error, now, traceparent })),
    };
  }

  private holdBehind(record: InboundRecord, headEventId: string, tier: number, tracing: ChunkTracing): Route {
    tracing.mark(record, 'held');
    const now = this.now();
    const traceparent = tracing.traceparent(record);
    return {
      topic: retryTopic(this.options.topology, originOf(record).topic, tier),
      message: this.message(record, failureHeaders(record, { groupId: this.options.groupId, attempts: attemptsOf(record), dueAt: now, heldBehind: headEventId, now, traceparent })),
    };
  }

  private message(record: InboundRecord, headers: Record<string, string>): Message {
    return { key: originOf(record).key, value: record.value, headers, timestamp: String(this.now()) };
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }
}

/**
 * A record's event, as every group reads it: decoded through the registry, its sealed personal
 * fields opened with `dataKeys`, and checked against the business rules. Throws
 * MalformedMessageError or EventValidationError for a bad record, ErasedEventError for an
 * erased user's; anything else it throws is infrastructure (the registry unreachable, a data
 * key unavailable: KeyUnavailableError).
 */
export async function decodeEvent(registry: EventRegistry, record: InboundRecord, dataKeys?: DataKeyReader): Promise<EventRecord> {
  const decoded = await registry.decode(record.value);
  const type = decoded.definition.type as EventType;
  const eventId = decoded.payload.event_id as string;
  let payload: Record<string, unknown>;
  try {
    // Opened before the rules are checked: they hold for the plain values (an email's format).
    payload = await openPersonalFields(decoded.definition.schema, decoded.payload, dataKeys);
  } catch (error) {
    if (error instanceof UserErasedError) throw new ErasedEventError({ ...record, type, eventId, schemaId: decoded.schemaId, payload: decoded.payload }, error.keyId);
    throw error;
  }
  // Schema-valid is not enough: business rules (no negative amounts…) hold for consumers too.
  validateEvent(type, payload);
  return { ...record, type, eventId, schemaId: decoded.schemaId, payload };
}

/** The inbox's columns as the consumer writes them. */
const INBOX_COLUMNS = { consumer_group: 'text', event_id: 'uuid', event_type: 'text', topic: 'text', partition: 'int', offset: 'bigint' } as const;

/** Inserts inbox rows of `groupId` (one statement); returns the event ids that were new to the group. */
export async function recordInInbox(trx: Trx, groupId: string, events: EventRecord[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = events.map((e) => {
    const origin = originOf(e);
    return { consumer_group: groupId, event_id: e.eventId, event_type: e.type, topic: origin.topic, partition: origin.partition, offset: origin.offset };
  });
  // A repeated event id is skipped by ON CONFLICT like one recorded before.
  const inserted = await unnestInsert<(typeof rows)[number], { event_id: string }>(trx, 'inbox', INBOX_COLUMNS, rows, { onConflict: ['consumer_group', 'event_id'], returning: ['event_id'] });
  return new Set(inserted.map((r) => r.event_id));
}
