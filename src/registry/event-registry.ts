import http from 'node:http';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
import type { Type } from 'avsc';
import { MalformedMessageError, RegistryError, describe } from '../errors';
import { compileAvroWriter, UnsupportedAvroTypeError, type AvroWriter } from '../events/avro-writer';
import { findDefinitionByRecordName, getEventDefinition, type EventDefinition } from '../events/catalog';
import type { EventType } from '../events/generated';

/**
 * Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary.
 * Subjects follow TopicRecordNameStrategy: `<topic>-<record full name>`.
 */
const MAGIC_BYTE = 0;
const HEADER_LENGTH = 5;

export type Compatibility = 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE';

export interface EventRegistryOptions {
  url: string;
  /** Register a schema on first use instead of requiring `tidings schemas register`. Default false. */
  autoRegister?: boolean;
  compatibility?: Compatibility;
}

export interface DecodedEvent {
  schemaId: number;
  definition: EventDefinition;
  payload: Record<string, unknown>;
}

export function subjectFor(topic: string, definition: EventDefinition): string {
  return `${topic}-${definition.recordName}`;
}

export class EventRegistry {
  private readonly client: SchemaRegistry;
  private readonly ids = new Map<string, Promise<number>>();
  private readonly readers = new Map<number, Promise<{ definition: EventDefinition; read: (buf: Buffer) => Record<string, unknown> }>>();

  constructor(private readonly options: EventRegistryOptions) {
    this.client = new SchemaRegistry({
      host: options.url,
      // No keep-alive: a request written to a socket the registry had just closed hung forever.
      agent: new http.Agent({ keepAlive: false }),
      // And no request may hang: a timeout becomes a retriable RegistryError.
      middlewares: [TimeoutMiddleware(10_000)],
    });
  }

  get url(): string {
    return this.options.url;
  }

  /** Registers the schema of `type` under `<topic>-<record>` with the configured compatibility. */
  async register(type: EventType, topic: string): Promise<{ subject: string; id: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.registerOnce(type, topic);
      } catch (error) {
        // Registering is idempotent, so a timed-out or failed attempt can simply be repeated.
        if (!(error instanceof RegistryError) || !error.retriable || attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  private async registerOnce(type: EventType, topic: string): Promise<{ subject: string; id: number }> {
    const definition = getEventDefinition(type);
    const subject = subjectFor(topic, definition);
    try {
      const { id } = await this.client.register({ type: SchemaType.AVRO, schema: JSON.stringify(definition.schema) }, { subject });
      // Set here rather than through the client, whose read-then-write check fails when a
      // retried registration finds the registry's default already answering for the subject.
      const level = this.options.compatibility ?? 'BACKWARD';
      const response = await fetch(`${this.options.url}/config/${encodeURIComponent(subject)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ compatibility: COMPATIBILITY[level] }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw Object.assign(new Error(`setting compatibility of ${subject}: HTTP ${response.status}`), { status: response.status });
      this.ids.set(subject, Promise.resolve(id));
      return { subject, id };
    } catch (error) {
      throw registryError(`registering ${subject}`, error);
    }
  }

  /**
   * Deletes the subject of `type` on `topic` for good (soft, then permanent delete), e.g. when
   * a test or benchmark removes its topics. Needs deletion enabled on the registry.
   */
  async deleteSubject(type: EventType, topic: string): Promise<void> {
    const subject = encodeURIComponent(subjectFor(topic, getEventDefinition(type)));
    this.ids.delete(subjectFor(topic, getEventDefinition(type)));
    for (const query of ['', '?permanent=true']) {
      const response = await fetch(`${this.options.url}/subjects/${subject}${query}`, { method: 'DELETE' });
      if (!response.ok && response.status !== 404) throw new RegistryError(`deleting ${decodeURIComponent(subject)} failed: HTTP ${response.status}`, { retriable: response.status >= 500 });
    }
  }

  /** The id of this event type's schema on `topic`; cached after the first look-up. */
  schemaId(type: EventType, topic: string): Promise<number> {
    const definition = getEventDefinition(type);
    const subject = subjectFor(topic, definition);
    let id = this.ids.get(subject);
    if (!id) {
      id = this.lookUp(type, topic, subject, definition);
      // A failed look-up must not be cached: the schema may be registered a moment later.
      id.catch(() => this.ids.delete(subject));
      this.ids.set(subject, id);
    }
    return id;
  }

  /** Encodes an already validated payload in the Confluent wire format. */
  async encode(type: EventType, topic: string, payload: unknown): Promise<Buffer> {
    const id = await this.schemaId(type, topic);
    return frame(id, getEventDefinition(type).avroType, payload);
  }

  /**
   * Decodes a message value with the writer's schema (fetched by id, cached) resolved into
   * this build's reader schema, so events written by older or newer producers still decode.
   */
  async decode(value: Buffer | null): Promise<DecodedEvent> {
    if (!value || value.length < HEADER_LENGTH) {
      throw new MalformedMessageError(`message value too short for the Confluent wire format (${value?.length ?? 0} bytes)`);
    }
    if (value[0] !== MAGIC_BYTE) {
      throw new MalformedMessageError(`unknown magic byte ${value[0]} (expected ${MAGIC_BYTE})`);
    }
    const schemaId = value.readInt32BE(1);
    const reader = await this.readerFor(schemaId);
    try {
      return { schemaId, definition: reader.definition, payload: reader.read(value.subarray(HEADER_LENGTH)) };
    } catch (error) {
      throw new MalformedMessageError(`Avro body does not match schema ${schemaId}: ${describe(error)}`, error);
    }
  }

  private async lookUp(type: EventType, topic: string, subject: string, definition: EventDefinition): Promise<number> {
    if (this.options.autoRegister) return (await this.register(type, topic)).id;
    try {
      return await this.client.getRegistryIdBySchema(subject, {
        type: SchemaType.AVRO,
        schema: JSON.stringify(definition.schema),
      });
    } catch (error) {
      if (isNotFound(error)) {
        throw new RegistryError(
          `schema of ${type} is not registered under subject "${subject}"; run \`tidings schemas register\``,
          { retriable: false, cause: error },
        );
      }
      throw registryError(`looking up ${subject}`, error);
    }
  }

  private readerFor(schemaId: number): ReturnType<EventRegistry['buildReader']> {
    let reader = this.readers.get(schemaId);
    if (!reader) {
      reader = this.buildReader(schemaId);
      reader.catch(() => this.readers.delete(schemaId));
      this.readers.set(schemaId, reader);
    }
    return reader;
  }

  private async buildReader(
    schemaId: number,
  ): Promise<{ definition: EventDefinition; read: (buf: Buffer) => Record<string, unknown> }> {
    let writer: Type;
    try {
      // For Avro the client parses the writer schema into an avsc Type (and caches it by id).
      writer = (await this.client.getSchema(schemaId)) as unknown as Type;
    } catch (error) {
      if (isNotFound(error)) throw new MalformedMessageError(`schema id ${schemaId} is unknown to the registry`, error);
      throw registryError(`fetching schema ${schemaId}`, error);
    }
    const recordName = writer.name;
    const definition = recordName ? findDefinitionByRecordName(recordName) : undefined;
    if (!definition) {
      throw new MalformedMessageError(`schema ${schemaId} (${recordName ?? 'unnamed'}) is not a known Tidings event`);
    }
    const reader: Type = definition.avroType;
    const resolver = reader.equals(writer) ? undefined : reader.createResolver(writer);
    return {
      definition,
      read: (buf) => {
        const decoded: unknown = resolver ? reader.fromBuffer(buf, resolver) : reader.fromBuffer(buf);
        return decoded as Record<string, unknown>;
      },
    };
  }
}

/**
 * Values are encoded straight into a shared slab and handed out as views of it: no
 * per-event scratch copy or second copy behind the header (half the cost of toBuffer +
 * copy). Like Node's own small-Buffer pool, a live value keeps its slab alive.
 */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafe(SLAB_BYTES);
let slabOffset = 0;

/** The generated writer of each type (it writes our events in half the time avsc takes); null: avsc writes it. */
const writers = new WeakMap<Type, AvroWriter | null>();

function writerFor(type: Type): AvroWriter | null {
  let writer = writers.get(type);
  if (writer === undefined) {
    try {
      writer = compileAvroWriter(type);
    } catch (error) {
      // A unit test compiles every event schema, so this only catches types from elsewhere.
      if (!(error instanceof UnsupportedAvroTypeError)) throw error;
      writer = null;
    }
    writers.set(type, writer);
  }
  return writer;
}

/** Writes the Avro body at `pos` in the slab; returns its end, past the slab's end if it did not fit. */
function writeBody(type: Type, payload: unknown, pos: number): number {
  const writer = writerFor(type);
  if (writer !== null) {
    try {
      return writer(slab, pos, payload);
    } catch {
      // A value the writer leaves to avsc (invalid, or an avsc corner case): avsc encodes it
      // exactly as it always has, or throws its own error.
    }
  }
  const end = type.encode(payload, slab, pos);
  return end < 0 ? slab.length - end : end;
}

export function frame(schemaId: number, type: Type, payload: unknown): Buffer {
  const start = slabOffset;
  const end = writeBody(type, payload, start + HEADER_LENGTH);
  if (end > slab.length) {
    // Did not fit: continue in a fresh slab big enough for this value.
    slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, end - start));
    slabOffset = 0;
    return frame(schemaId, type, payload);
  }
  slab[start] = MAGIC_BYTE;
  slab.writeInt32BE(schemaId, start + 1);
  slabOffset = end;
  return slab.subarray(start, end);
}

function isNotFound(error: unknown): boolean {
  const status = (error as { status?: number }).status;
  return status === 404 || /not found/i.test(describe(error));
}

function registryError(action: string, error: unknown): RegistryError {
  const status = (error as { status?: number }).status;
  // 4xx answers (other than throttling) will not change on retry; network errors and 5xx may.
  // The client reports a dropped connection or a timeout as "status 400" with the socket
  // error as its text, so those are recognised by that text (the error has no other type).
  const networkFailure = /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|Timeout \(\d+ms\)/i.test(describe(error));
  const retriable = status === undefined || status >= 500 || status === 429 || networkFailure;
  return new RegistryError(`${action} failed: ${describe(error)}`, { retriable, cause: error });
}
