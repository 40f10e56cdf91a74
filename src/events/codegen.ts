/**
 * Generates `generated.ts` (TypeScript types for every Avro record and enum, plus the event
 * type lists) from the .avsc files, so the compiler checks producers against the contract.
 */
import { isPersonal } from './personal-data';
import {
  EVENT_DOMAINS,
  collectNamedTypes,
  loadSchemaSources,
  shortNameOf,
  type AvroField,
  type AvroNamedSchema,
  type AvroSchema,
  type SchemaSources,
} from './schema-source';

const HEADER = `/**
 * GENERATED from the Avro schemas in schemas/ by scripts/gen-types.ts — do not edit.
 * Regenerate with \`npm run gen:types\`.
 */
`;

function docComment(lines: string[], indent: string): string {
  const text = lines.filter((line) => line.length > 0);
  if (text.length === 0) return '';
  if (text.length === 1) return `${indent}/** ${text[0]} */\n`;
  return `${indent}/**\n${text.map((line) => `${indent} * ${line}`).join('\n')}\n${indent} */\n`;
}

function tsType(schema: AvroSchema): string {
  if (typeof schema === 'string') {
    switch (schema) {
      case 'null':
        return 'null';
      case 'boolean':
        return 'boolean';
      case 'int':
      case 'long':
      case 'float':
      case 'double':
        return 'number';
      case 'string':
        return 'string';
      case 'bytes':
        return 'Buffer';
      default:
        return shortNameOf(schema);
    }
  }
  if (Array.isArray(schema)) {
    // Null last reads naturally: `string | null`.
    const branches = [...schema].sort((a, b) => Number(a === 'null') - Number(b === 'null'));
    return branches.map(tsType).join(' | ');
  }
  switch (schema.type) {
    case 'record':
    case 'enum':
      return shortNameOf(schema.name);
    case 'array': {
      const item = tsType(schema.items);
      return item.includes(' ') ? `Array<${item}>` : `${item}[]`;
    }
    case 'map':
      return `Record<string, ${tsType(schema.values)}>`;
    default:
      return tsType(schema.type);
  }
}

function logicalTypes(schema: AvroSchema): string[] {
  if (Array.isArray(schema)) return schema.flatMap(logicalTypes);
  if (typeof schema === 'object' && 'logicalType' in schema && typeof schema.logicalType === 'string') {
    return [schema.logicalType];
  }
  return [];
}

function fieldNotes(field: AvroField): string {
  const notes: string[] = [];
  const logical = logicalTypes(field.type);
  if (logical.includes('timestamp-millis')) notes.push('epoch milliseconds');
  if (logical.includes('uuid')) notes.push('UUID');
  const format = field['tidings.format'];
  if (typeof format === 'string' && format !== 'uuid') notes.push(`format: ${format}`);
  const min = field['tidings.min'];
  if (typeof min === 'number') notes.push(`>= ${min}`);
  if (isPersonal(field)) notes.push('personal data: masked in operator views');
  return notes.length > 0 ? `(${notes.join('; ')})` : '';
}

function emitNamed(schema: AvroNamedSchema): string {
  const name = shortNameOf(schema.name);
  const doc = docComment([schema.doc ?? '', `Avro: ${schema.name}`], '');
  if (schema.type === 'enum') {
    return `${doc}export type ${name} = ${schema.symbols.map((symbol) => `'${symbol}'`).join(' | ')};\n`;
  }
  const fields = schema.fields
    .map((field) => {
      // A default lets producers omit the field; readers always receive it filled in.
      const optional = 'default' in field ? '?' : '';
      const comment = docComment([[field.doc ?? '', fieldNotes(field)].filter(Boolean).join(' ')], '  ');
      return `${comment}  ${field.name}${optional}: ${tsType(field.type)};\n`;
    })
    .join('');
  return `${doc}export interface ${name} {\n${fields}}\n`;
}

function constName(domain: string): string {
  return `${domain.toUpperCase()}_EVENT_TYPES`;
}

/** Source text of `src/events/generated.ts` for the given (default: on-disk) schemas. */
export function generateTypes(sources: SchemaSources = loadSchemaSources()): string {
  const named = new Map<string, AvroNamedSchema>();
  for (const schema of sources.common) collectNamedTypes(schema, named);
  for (const event of sources.events) collectNamedTypes(event.schema, named);

  const shortNames = new Map<string, string>();
  for (const fullName of named.keys()) {
    const short = shortNameOf(fullName);
    const clash = shortNames.get(short);
    if (clash) throw new Error(`Avro types ${clash} and ${fullName} would both be generated as ${short}`);
    shortNames.set(short, fullName);
  }

  const parts: string[] = [HEADER];
  for (const schema of named.values()) parts.push(emitNamed(schema));

  const types = sources.events.map((event) => event.eventType);
  parts.push(`export type EventType =\n${types.map((type) => `  | '${type}'`).join('\n')};\n`);
  parts.push(
    `export interface EventMap {\n${sources.events.map((event) => `  ${event.eventType}: ${event.name};\n`).join('')}}\n`,
  );
  parts.push(
    docComment(['One event with its type, narrowed by `type`.'], '') +
      'export type TypedEvent = { [K in EventType]: { type: K; event: EventMap[K] } }[EventType];\n',
  );
  for (const domain of EVENT_DOMAINS) {
    const domainTypes = sources.events.filter((event) => event.domain === domain).map((event) => event.eventType);
    parts.push(
      `export const ${constName(domain)} = [\n${domainTypes.map((type) => `  '${type}',\n`).join('')}] as const;\n`,
    );
  }
  parts.push(
    `export const EVENT_TYPES: readonly EventType[] = [${EVENT_DOMAINS.map((d) => `...${constName(d)}`).join(', ')}];\n`,
  );
  return parts.join('\n');
}
