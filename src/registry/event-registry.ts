import { Type } from 'avsc';
import { assertAvroBounds } from './avro-bounds';
import { z } from 'zod';
import { durationMs, parseOptions, positiveInt } from '../config/options';
import { readPemFile } from '../config/pem-file';
import { ConfigError, MalformedMessageError, RegistryError, describe } from '../errors';
import { findDefinitionByRecordName, getEventDefinition, type EventDefinition } from '../events/catalog';
import type { EventType } from '../events/generated';
import { createLogger, type Logger } from '../observability/logger';
import { REGISTRY_ERROR_CODES, RegistryHttp, RegistryRequestError, isRegistryAnswer, type RegistryCredentials } from './registry-http';
import { HEADER_LENGTH, MAGIC_BYTE, frame } from './wire-format';

export { frame };

export const COMPATIBILITY_LEVELS = ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE'] as const;
export type Compatibility = (typeof COMPATIBILITY_LEVELS)[number];

export interface EventRegistryOptions {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  url: string;
  /** Register a schema on first use instead of requiring `tidings schemas register`. Default false. */
  autoRegister?: boolean;
  /** Set on every subject this registry registers. Default BACKWARD. */
  compatibility?: Compatibility;
  /** Per registry request, reading the answer included. Default 10 s. */
  requestTimeoutMs?: number;
  /** Retries of a request that failed transiently (network, timeout, 5xx, 429). Default 3 attempts, 200 ms doubling to 2 s. */
  retry?: { maxAttempts: number; initialMs: number; maxMs: number };
  /** Basic auth (`{ username, password }`) or a bearer token (`{ token }`); only with an https:// `url`. Default: none. */
  credentials?: RegistryCredentials;
  /** PEM file of the CA(s) an https:// registry's certificate must chain to. Default: Node's bundled CAs. */
  caFile?: string;
  logger?: Logger;
}

const optionsSchema = z.object({
  url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
  autoRegister: z.boolean().default(false),
  compatibility: z.enum(COMPATIBILITY_LEVELS).default('BACKWARD'),
  requestTimeoutMs: durationMs.default(10_000),
  retry: z
    .object({ maxAttempts: positiveInt, initialMs: positiveInt, maxMs: positiveInt })
    .default({ maxAttempts: 3, initialMs: 200, maxMs: 2_000 }),
  credentials: z
    .union([z.object({ username: z.string().min(1), password: z.string() }).strict(), z.object({ token: z.string().min(1) }).strict()], {
      message: 'must be { username, password } or { token }',
    })
    .optional(),
  caFile: z.string().min(1).optional(),
});
type Settings = z.infer<typeof optionsSchema>;

export interface DecodedEvent {
  schemaId: number;
  definition: EventDefinition;
  payload: Record<string, unknown>;
}

/** What the registry says of a schema proposed for a subject. */
export interface CompatibilityVerdict {
  compatible: boolean;
  /** The registry's explanation of an incompatibility, when it gives one (Confluent does, Apicurio does not). */
  reasons: string[];
}

interface Reader {
  definition: EventDefinition;
  read: (buf: Buffer) => Record<string, unknown>;
}

/** The schema id and Avro body of a Confluent-framed value; a MalformedMessageError when it is not one. */
function framed(value: Buffer | null): { schemaId: number; body: Buffer } {
  return { schemaId: frameSchemaId(value), body: (value as Buffer).subarray(HEADER_LENGTH) };
}

/** The schema id of a Confluent wire-format frame; a value that is not one is malformed. */
function frameSchemaId(value: Buffer | null): number {
  if (!value || value.length < HEADER_LENGTH) {
    throw new MalformedMessageError(`message value too short for the Confluent wire format (${value?.length ?? 0} bytes)`);
  }
  if (value[0] !== MAGIC_BYTE) {
    throw new MalformedMessageError(`unknown magic byte ${value[0]} (expected ${MAGIC_BYTE})`);
  }
  return value.readInt32BE(1);
}

/** The subject of an event on `topic`, by TopicRecordNameStrategy: `<topic>-<record full name>`. */
export function subjectFor(topic: string, definition: Pick<EventDefinition, 'recordName'>): string {
  return `${topic}-${definition.recordName}`;
}

export class EventRegistry {
  private readonly settings: Settings;
  private readonly http: RegistryHttp;
  private readonly ids = new Map<string, Promise<number>>();
  private readonly readers = new Map<number, Promise<Reader>>();
  /** Event types of the schema ids `typeOf` has answered for. */
  private readonly knownTypes = new Map<number, EventType>();

  constructor(options: EventRegistryOptions) {
    const { logger, ...rest } = options;
    const parsed = parseOptions('schema registry', optionsSchema, rest);
    this.settings = { ...parsed, url: parsed.url.replace(/\/+$/, '') };
    const secure = this.settings.url.startsWith('https:');
    if (!secure && this.settings.credentials) throw new ConfigError(`schema registry: credentials would be sent in clear text to ${this.settings.url}: use an https:// URL`);
    if (!secure && this.settings.caFile) throw new ConfigError(`schema registry: caFile (SCHEMA_REGISTRY_CA_FILE) applies only to an https:// URL, not ${this.settings.url}`);
    this.http = new RegistryHttp({
      url: this.settings.url,
      requestTimeoutMs: this.settings.requestTimeoutMs,
      retry: this.settings.retry,
      credentials: this.settings.credentials,
      ca: this.settings.caFile === undefined ? undefined : readPemFile(this.settings.caFile, 'SCHEMA_REGISTRY_CA_FILE'),
      logger: logger ?? createLogger('registry'),
    });
  }

  get url(): string {
    return this.settings.url;
  }

  /** Registers the schema of `type` under `<topic>-<record>` with the configured compatibility. */
  async register(type: EventType, topic: string): Promise<{ subject: string; id: number }> {
    const definition = getEventDefinition(type);
    const registered = await this.registerSchema(subjectFor(topic, definition), definition.schema);
    // Only this build's schema may label what `encode` writes.
    this.ids.set(registered.subject, Promise.resolve(registered.id));
    return registered;
  }

  /**
   * Registers `schema` under `subject` and sets the subject's compatibility. Both calls are
   * idempotent and made on every registration, so concurrent registrations agree and one
   * interrupted between them is completed by the next. The compatibility is set first: a
   * subject never exists without it, and a new version is checked against it. A schema the
   * registry refuses (incompatible: HTTP 409) is a non-retriable RegistryError with its reason.
   */
  async registerSchema(subject: string, schema: object): Promise<{ subject: string; id: number }> {
    await this.setCompatibility(subject);
    const { id } = await this.http.call<{ id: number }>(`registering ${subject}`, 'POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schema: JSON.stringify(schema),
    });
    return { subject, id };
  }

  private async setCompatibility(subject: string): Promise<void> {
    const put = (): Promise<unknown> =>
      this.http.call(`setting the compatibility of ${subject}`, 'PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: this.settings.compatibility });
    try {
      await put();
    } catch (error) {
      // Apicurio creates a subject's rule on the first PUT; of two at once, one is refused with
      // 409 ("rule already exists"). The rule exists now, so a second PUT updates it.
      if (!(error instanceof RegistryRequestError && error.status === 409)) throw error;
      await put();
    }
  }

  /** Whether `schema` could be registered under `subject` now, without registering it. A subject that does not exist accepts anything. */
  async checkCompatibility(subject: string, schema: object): Promise<CompatibilityVerdict> {
    try {
      const verdict = await this.http.call<{ is_compatible: boolean; messages?: unknown }>(
        `checking ${subject}`,
        'POST',
        `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
        { schema: JSON.stringify(schema) },
      );
      const reasons = Array.isArray(verdict.messages) ? verdict.messages.map(String) : [];
      return { compatible: verdict.is_compatible === true, reasons };
    } catch (error) {
      if (isRegistryAnswer(error, REGISTRY_ERROR_CODES.subjectNotFound, REGISTRY_ERROR_CODES.versionNotFound)) return { compatible: true, reasons: [] };
      throw error;
    }
  }

  /** The id under which `schema` is registered in `subject`, or undefined if it is not. */
  async findSchemaId(subject: string, schema: object): Promise<number | undefined> {
    try {
      const found = await this.http.call<{ id: number }>(`looking up ${subject}`, 'POST', `/subjects/${encodeURIComponent(subject)}`, { schema: JSON.stringify(schema) });
      return found.id;
    } catch (error) {
      if (isRegistryAnswer(error, REGISTRY_ERROR_CODES.subjectNotFound, REGISTRY_ERROR_CODES.schemaNotFound)) return undefined;
      throw error;
    }
  }

  /**
   * Deletes the subject of `type` on `topic` for good (soft, then permanent delete), e.g. when
   * a test or benchmark removes its topics. Needs deletion enabled on the registry.
   */
  async deleteSubject(type: EventType, topic: string): Promise<void> {
    const subject = subjectFor(topic, getEventDefinition(type));
    this.ids.delete(subject);
    for (const query of ['', '?permanent=true']) {
      try {
        await this.http.call(`deleting ${subject}`, 'DELETE', `/subjects/${encodeURIComponent(subject)}${query}`);
      } catch (error) {
        // Already gone (or already soft-deleted by an earlier, interrupted call).
        if (!isRegistryAnswer(error, REGISTRY_ERROR_CODES.subjectNotFound, REGISTRY_ERROR_CODES.subjectSoftDeleted)) throw error;
      }
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
   * Bytes no schema of this build can read are a MalformedMessageError (dead-lettered); a
   * registry that cannot be reached is a retriable RegistryError.
   */
  async decode(value: Buffer | null): Promise<DecodedEvent> {
    const { schemaId, body } = framed(value);
    const reader = await this.readerFor(schemaId);
    try {
      return { schemaId, definition: reader.definition, payload: reader.read(body) };
    } catch (error) {
      throw new MalformedMessageError(`Avro body does not match schema ${schemaId}: ${describe(error)}`, error);
    }
  }

  /**
   * The event type of a message value from its schema id alone, the body left unread: what a
   * filter by type needs to pass over the other types' records at the cost of a map look-up.
   * A frame or schema id `decode` would refuse is refused the same way.
   */
  async typeOf(value: Buffer | null): Promise<EventType> {
    const schemaId = frameSchemaId(value);
    const type = (await this.readerFor(schemaId)).definition.type as EventType;
    this.knownTypes.set(schemaId, type);
    return type;
  }

  /**
   * `typeOf` without a promise, for a schema id `typeOf` has already answered for; undefined
   * for one it has not (then call `typeOf`). A value that is not a frame throws as there.
   */
  knownTypeOf(value: Buffer | null): EventType | undefined {
    return this.knownTypes.get(frameSchemaId(value));
  }

  private async lookUp(type: EventType, topic: string, subject: string, definition: EventDefinition): Promise<number> {
    if (this.settings.autoRegister) return (await this.register(type, topic)).id;
    const id = await this.findSchemaId(subject, definition.schema);
    if (id === undefined) {
      throw new RegistryError(`schema of ${type} is not registered under subject "${subject}"; run \`tidings schemas register\``, { retriable: false });
    }
    return id;
  }

  private readerFor(schemaId: number): Promise<Reader> {
    let reader = this.readers.get(schemaId);
    if (!reader) {
      reader = this.buildReader(schemaId);
      reader.catch(() => this.readers.delete(schemaId));
      this.readers.set(schemaId, reader);
    }
    return reader;
  }

  private async buildReader(schemaId: number): Promise<Reader> {
    let answer: { schema: string; schemaType?: string };
    try {
      answer = await this.http.call(`fetching schema ${schemaId}`, 'GET', `/schemas/ids/${schemaId}`);
    } catch (error) {
      // Only the registry's own "no such schema" makes the record malformed; a bare 404 (a
      // wrong URL, a proxy) is a misconfiguration, not a reason to dead-letter every record.
      if (isRegistryAnswer(error, REGISTRY_ERROR_CODES.schemaNotFound)) throw new MalformedMessageError(`schema id ${schemaId} is unknown to the registry`, error);
      throw error;
    }
    const writer = parseWriter(schemaId, answer);
    const definition = writer.name ? findDefinitionByRecordName(writer.name) : undefined;
    if (!definition) {
      throw new MalformedMessageError(`schema ${schemaId} (${writer.name ?? 'unnamed'}) is not a known Tidings event`);
    }
    const reader: Type = definition.avroType;
    let resolver: ReturnType<Type['createResolver']> | undefined;
    try {
      resolver = reader.equals(writer) ? undefined : reader.createResolver(writer);
    } catch (error) {
      // Retrying cannot help: this writer's records can never be read as this build's event.
      throw new MalformedMessageError(`schema ${schemaId} cannot be read as ${definition.recordName} by this build: ${describe(error)}`, error);
    }
    return {
      definition,
      read: (buf) => {
        // Before avsc, which would allocate whatever count a crafted body declares.
        assertAvroBounds(writer, buf);
        const decoded: unknown = resolver ? reader.fromBuffer(buf, resolver) : reader.fromBuffer(buf);
        return decoded as Record<string, unknown>;
      },
    };
  }
}

/** The writer schema of `schemaId` as an avsc type; one Avro cannot parse makes its records malformed. */
function parseWriter(schemaId: number, answer: { schema: string; schemaType?: string }): Type {
  if (answer.schemaType !== undefined && answer.schemaType !== 'AVRO') {
    throw new MalformedMessageError(`schema ${schemaId} is a ${answer.schemaType} schema, not Avro`);
  }
  try {
    return Type.forSchema(JSON.parse(answer.schema) as Parameters<typeof Type.forSchema>[0]);
  } catch (error) {
    throw new MalformedMessageError(`schema ${schemaId} is not a readable Avro schema: ${describe(error)}`, error);
  }
}
