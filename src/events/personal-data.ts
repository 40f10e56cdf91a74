/**
 * Personal data in events, as the contract declares it: a field marked
 * `"tidings.personal": true` in schemas/ (an email address, a phone number, a name, an IP
 * address, a link carrying a one-time token) is masked wherever an operator sees an event.
 * Nothing here knows field names: a new personal field is one attribute in its .avsc file.
 */
import { collectNamedTypes, type AvroField, type AvroNamedSchema, type AvroRecordSchema, type AvroSchema } from './schema-source';

export const PERSONAL_ATTRIBUTE = 'tidings.personal';

/** What a masked value is shown as. */
export const MASK = '***';

export function isPersonal(field: AvroField): boolean {
  return field[PERSONAL_ATTRIBUTE] === true;
}

export interface MaskedPayload {
  /** The payload with every non-null personal value replaced by MASK. */
  masked: Record<string, unknown>;
  /** Where values were masked: `recipient.email`, `items[0].description`. */
  paths: string[];
  /** The personal string values found, to mask them where they are repeated (an error message quoting an address). */
  values: string[];
}

/** Masks the personal fields of a payload decoded with `schema` (the reader schema it was resolved into). */
export function maskPersonalData(schema: AvroRecordSchema, payload: Record<string, unknown>): MaskedPayload {
  const named = collectNamedTypes(schema);
  const paths: string[] = [];
  const values = new Set<string>();
  const walk = (type: AvroSchema, value: unknown, path: string): unknown => {
    if (value === null || value === undefined) return value;
    const resolved = resolve(type, named);
    if (Array.isArray(resolved)) return walk(branchFor(resolved, value, named), value, path);
    if (typeof resolved !== 'object') return value;
    switch (resolved.type) {
      case 'record': {
        if (!isObject(value)) return value;
        const out: Record<string, unknown> = { ...value };
        for (const field of resolved.fields) {
          const inner = value[field.name];
          const at = path ? `${path}.${field.name}` : field.name;
          if (!isPersonal(field)) out[field.name] = walk(field.type, inner, at);
          else if (inner !== null && inner !== undefined) {
            collectStrings(inner, values);
            paths.push(at);
            out[field.name] = MASK;
          }
        }
        return out;
      }
      case 'array':
        return Array.isArray(value) ? value.map((item, i) => walk(resolved.items, item, `${path}[${i}]`)) : value;
      case 'map':
        return isObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(resolved.values, v, `${path}.${k}`)])) : value;
      default:
        return value;
    }
  };
  return { masked: walk(schema, payload, '') as Record<string, unknown>, paths, values: [...values] };
}

/**
 * `text` with every occurrence of the given personal values replaced by MASK, longest first
 * so a value inside another is not left half-shown. Values under 3 characters are left alone:
 * masking every "Al" would make the text unreadable and tells little.
 */
export function maskValuesIn(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of [...values].filter((v) => v.length >= 3).sort((a, b) => b.length - a.length)) out = out.split(value).join(MASK);
  return out;
}

function resolve(type: AvroSchema, named: ReadonlyMap<string, AvroNamedSchema>): AvroSchema {
  return typeof type === 'string' ? (named.get(type) ?? type) : type;
}

/** The branch of a union a decoded value belongs to: the null branch for null, else the first branch of the value's kind. */
function branchFor(branches: AvroSchema[], value: unknown, named: ReadonlyMap<string, AvroNamedSchema>): AvroSchema {
  const kindOf = (branch: AvroSchema): string => {
    const r = resolve(branch, named);
    if (typeof r === 'string') return r;
    if (Array.isArray(r)) return 'union';
    return r.type;
  };
  const wanted = Array.isArray(value) ? ['array'] : isObject(value) ? ['record', 'map'] : typeof value === 'string' ? ['string', 'enum'] : [typeof value];
  return branches.find((b) => wanted.includes(kindOf(b))) ?? branches.find((b) => kindOf(b) !== 'null') ?? 'null';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function collectStrings(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') into.add(value);
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into);
  else if (isObject(value)) for (const item of Object.values(value)) collectStrings(item, into);
}
