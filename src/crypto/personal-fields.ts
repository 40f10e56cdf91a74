/**
 * The personal fields of an event payload (`"tidings.personal": true` in schemas/), sealed
 * and opened with their user's data key. What is personal is read from the schema, as
 * src/events/personal-data.ts reads it to mask; here the schema is compiled once into a plan
 * that visits only the fields on the way to personal values, because sealing runs on every
 * publish. Payloads are never changed in place: what changes is copied.
 */
import { ConfigError, KeyUnavailableError, MalformedMessageError, UserErasedError } from '../errors';
import { isPersonal } from '../events/personal-data';
import { collectNamedTypes, type AvroNamedSchema, type AvroRecordSchema, type AvroSchema } from '../events/schema-source';
import type { KeyLookup } from './data-key-store';
import { isSealed, open, seal, sealedKeyId, type DataKey } from './personal-cipher';

/** Where decoding finds data keys by id: a DataKeyStore, or one chunk's batch of it. */
export interface DataKeyReader {
  keysById(keyIds: Iterable<string>): Promise<Map<string, KeyLookup>>;
}

/** Replaces one personal string; `path` names the field (`recipient.email`, `items[].note`). */
type Replace = (text: string, path: string) => string;

/** Returns `value` with every personal string replaced, copying only what changed (the same object when nothing did). */
type Plan = (value: unknown, replace: Replace) => unknown;

const plans = new WeakMap<AvroRecordSchema, Plan | null>();

/** The plan of a record schema; null when it holds no personal field. */
function planOf(schema: AvroRecordSchema): Plan | null {
  let plan = plans.get(schema);
  if (plan === undefined) {
    plan = compile(schema, collectNamedTypes(schema), '', new Set()) ?? null;
    plans.set(schema, plan);
  }
  return plan;
}

/** Whether events of `schema` have personal fields at all. */
export function hasPersonalFields(schema: AvroRecordSchema): boolean {
  return planOf(schema) !== null;
}

/** Whether `payload` holds a personal value that is not null (one that sealing would change). */
export function hasPersonalValues(schema: AvroRecordSchema, payload: Record<string, unknown>): boolean {
  const plan = planOf(schema);
  if (!plan) return false;
  let found = false;
  plan(payload, (text) => {
    found = true;
    return text;
  });
  return found;
}

/**
 * `payload` with each personal value sealed with `key` (the data key of the payload's user).
 * A value already sealed is left as it is (a record republished as read).
 */
export function sealPersonalFields<T extends object>(schema: AvroRecordSchema, payload: T, key: DataKey): T {
  const plan = planOf(schema);
  return plan ? (plan(payload, (text) => (isSealed(text) ? text : seal(key, text))) as T) : payload;
}

/** The ids of the data keys the sealed personal values of `payload` need. */
export function sealedKeyIds(schema: AvroRecordSchema, payload: Record<string, unknown>): Set<string> {
  const ids = new Set<string>();
  planOf(schema)?.(payload, (text, path) => {
    if (isSealed(text)) ids.add(keyIdOf(text, path));
    return text;
  });
  return ids;
}

/**
 * `payload` with its sealed personal values opened. Values not sealed (a producer with sealing
 * off, or in another language) pass as they are. Throws UserErasedError when the user's key
 * was destroyed, KeyUnavailableError when a key cannot be had (no key-encryption key here,
 * the KMS down), MalformedMessageError when a value is altered, sealed with a key of another
 * user than the event's `user_id`, or with a key this database does not have.
 */
export async function openPersonalFields(schema: AvroRecordSchema, payload: Record<string, unknown>, keys: DataKeyReader | undefined): Promise<Record<string, unknown>> {
  const plan = planOf(schema);
  if (!plan) return payload;
  const ids = sealedKeyIds(schema, payload);
  if (ids.size === 0) return payload;
  if (!keys) {
    throw new KeyUnavailableError(
      `${schema.name} has personal fields sealed with data key ${[...ids].join(', ')}, and this process has no key-encryption key: set TIDINGS_MASTER_KEY to the one the producers use`,
    );
  }
  const found = await keys.keysById(ids);
  const userId = payload.user_id;
  return plan(payload, (text, path) => {
    if (!isSealed(text)) return text;
    const keyId = keyIdOf(text, path);
    const key = found.get(keyId);
    // Dead-lettered, not paused: one record naming a key nobody has (forged, or from another
    // deployment) must not stop its partition; the DLQ keeps it for a redrive once the key exists.
    if (key === undefined) throw new MalformedMessageError(`${path} is sealed with data key ${keyId}, which is not in user_data_keys of this database (is DATABASE_URL the producers' database?)`);
    if (key instanceof UserErasedError) throw key;
    if (key.userId !== userId) throw new MalformedMessageError(`${path} is sealed with the data key of another user than the event's user_id`);
    return open(key, text);
  }) as Record<string, unknown>;
}

const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` has the form of a data key id (a UUID, lower case): only such ids are looked up. */
export function isKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

function keyIdOf(sealed: string, path: string): string {
  const keyId = sealedKeyId(sealed);
  if (keyId === undefined || !isKeyId(keyId)) throw new MalformedMessageError(`${path} starts like a sealed value (tdk1:) but is not one (expected tdk1:<key id>:<iv>:<ciphertext>)`);
  return keyId;
}

/** The plan of `type` at `path`, or undefined when nothing personal is below it. */
function compile(type: AvroSchema, named: ReadonlyMap<string, AvroNamedSchema>, path: string, visiting: Set<string>): Plan | undefined {
  const resolved = typeof type === 'string' ? named.get(type) : type;
  if (resolved === undefined) return undefined;
  if (Array.isArray(resolved)) return unionPlan(resolved, named, path, visiting);
  switch (resolved.type) {
    case 'record': {
      // A recursive record (none in the contract today) is visited once per path.
      if (visiting.has(resolved.name)) return undefined;
      visiting.add(resolved.name);
      const fields: Array<[string, Plan]> = [];
      for (const field of resolved.fields) {
        const at = path ? `${path}.${field.name}` : field.name;
        const plan = isPersonal(field) ? personalPlan(field.type, named, at) : compile(field.type, named, at, visiting);
        if (plan) fields.push([field.name, plan]);
      }
      visiting.delete(resolved.name);
      return fields.length === 0 ? undefined : recordPlan(fields);
    }
    case 'array': {
      const items = compile(resolved.items, named, `${path}[]`, visiting);
      return items && arrayPlan(items);
    }
    case 'map': {
      const values = compile(resolved.values, named, `${path}{}`, visiting);
      return values && mapPlan(values);
    }
    default:
      return undefined;
  }
}

/** A personal field: a string, or null and a string. Sealing replaces text with text, so nothing else can be. */
function personalPlan(type: AvroSchema, named: ReadonlyMap<string, AvroNamedSchema>, path: string): Plan {
  const kinds = (Array.isArray(type) ? type : [type]).map((t) => {
    const r = typeof t === 'string' ? (named.get(t) ?? t) : t;
    return typeof r === 'string' ? r : Array.isArray(r) ? 'union' : r.type;
  });
  if (!kinds.includes('string') || kinds.some((k) => k !== 'string' && k !== 'null')) {
    throw new ConfigError(`personal field ${path} must be a string or null and a string to be sealed (the schema says ${JSON.stringify(type)})`);
  }
  return (value, replace) => (typeof value === 'string' ? replace(value, path) : value);
}

function recordPlan(fields: ReadonlyArray<readonly [string, Plan]>): Plan {
  return (value, replace) => {
    if (!isObject(value)) return value;
    let out: Record<string, unknown> | undefined;
    for (const [name, plan] of fields) {
      const inner = value[name];
      if (inner === null || inner === undefined) continue;
      const next = plan(inner, replace);
      if (next !== inner) (out ??= { ...value })[name] = next;
    }
    return out ?? value;
  };
}

function arrayPlan(items: Plan): Plan {
  return (value, replace) => {
    if (!Array.isArray(value)) return value;
    let out: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const next = items(item, replace);
      if (next !== item) (out ??= [...value])[i] = next;
    });
    return out ?? value;
  };
}

function mapPlan(values: Plan): Plan {
  return (value, replace) => {
    if (!isObject(value)) return value;
    let out: Record<string, unknown> | undefined;
    for (const [key, inner] of Object.entries(value)) {
      const next = values(inner, replace);
      if (next !== inner) (out ??= { ...value })[key] = next;
    }
    return out ?? value;
  };
}

/** A union: decoded values are unwrapped, so the branch is told by the value's kind. */
function unionPlan(branches: AvroSchema[], named: ReadonlyMap<string, AvroNamedSchema>, path: string, visiting: Set<string>): Plan | undefined {
  let forObject: Plan | undefined;
  let forArray: Plan | undefined;
  for (const branch of branches) {
    const resolved = typeof branch === 'string' ? named.get(branch) : branch;
    if (resolved === undefined || Array.isArray(resolved)) continue;
    if (resolved.type === 'array') forArray ??= compile(resolved, named, path, visiting);
    else if (resolved.type === 'record' || resolved.type === 'map') forObject ??= compile(resolved, named, path, visiting);
  }
  if (!forObject && !forArray) return undefined;
  return (value, replace) => {
    if (Array.isArray(value)) return forArray ? forArray(value, replace) : value;
    return forObject && isObject(value) ? forObject(value, replace) : value;
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * `payload` opened as far as `keys` allow, to find where text repeats personal values (an
 * error message quoting an address) and mask it. A value that cannot be opened (the user
 * erased, no key-encryption key here, altered) stays sealed: it is masked as it is anyway.
 */
export async function openWherePossible(schema: AvroRecordSchema, payload: Record<string, unknown>, keys: DataKeyReader | undefined): Promise<Record<string, unknown>> {
  try {
    return await openPersonalFields(schema, payload, keys);
  } catch (error) {
    if (error instanceof UserErasedError || error instanceof KeyUnavailableError || error instanceof MalformedMessageError) return payload;
    throw error;
  }
}
