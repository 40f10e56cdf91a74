import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { startOutboxRelay } from '../../consumers/outbox-relay';
import { readEnv } from '../../src/config/env';
import { ConfigError } from '../../src/errors';
import { sampleEvent } from '../../src/events/samples';
import { migrate, Outbox } from '../../src/index';
import type { OutboxRelay } from '../../src/outbox/outbox-relay';
import { Platform } from '../../src/platform';
import { EVENT_ID_HEADER } from '../../src/producer/publisher';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { createEmptyDatabase } from '../helpers/test-database';
import { runTidings } from '../helpers/tidings-cli';
import { readTopic } from '../helpers/topic-reader';
import { waitFor } from '../helpers/wait';

const ALL_MIGRATIONS = fs
  .readdirSync(path.resolve(__dirname, '../../migrations'))
  .filter((f) => /^\d{3}_.+\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

/**
 * A service's own knex as a service might set it up: default search_path ("$user", public),
 * camelCase names in code mapped to snake_case in the database.
 */
function serviceKnex(databaseUrl: string): Knex {
  return knex({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: 4 },
    wrapIdentifier: (value, wrap) => wrap(value.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)),
    postProcessResponse: (result: unknown) => (Array.isArray(result) ? result.map(camelCaseKeys) : result),
  });
}

function camelCaseKeys(row: unknown): unknown {
  if (row === null || typeof row !== 'object') return row;
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), value]));
}

async function createUsersTable(service: Knex): Promise<void> {
  await service.schema.createTable('users', (t) => {
    t.text('id').primary();
    t.text('emailAddress').notNullable();
  });
}

/** Every table outside the system schemas, as `schema.table`, sorted. */
async function tablesBySchema(db: Knex): Promise<string[]> {
  const rows = (await db('pg_catalog.pg_tables')
    .whereNotIn('schemaname', ['pg_catalog', 'information_schema'])
    .select('schemaname', 'tablename')) as Array<{ schemaname: string; tablename: string }>;
  return rows.map((r) => `${r.schemaname}.${r.tablename}`).sort();
}

describe("Tidings' tables in their own PostgreSQL schema, next to a service's tables", () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A fresh database and a service knex on it; both go away after the test. */
  async function serviceDatabase(): Promise<{ databaseUrl: string; service: Knex }> {
    const database = await createEmptyDatabase();
    cleanups.push(() => database.dispose());
    const service = serviceKnex(database.databaseUrl);
    cleanups.push(() => service.destroy());
    return { databaseUrl: database.databaseUrl, service };
  }

  it("migrate() with a service's knex creates the schema and every table in it, and leaves the service's tables and settings alone", async () => {
    const { service } = await serviceDatabase();
    await createUsersTable(service);
    await service('users').insert({ id: 'u1', emailAddress: 'u1@example.com' });

    const applied = await migrate(service, { schema: 'acme_tidings' });

    expect(applied).toEqual(ALL_MIGRATIONS);
    const tables = await tablesBySchema(service);
    expect(tables.filter((t) => !t.startsWith('acme_tidings.'))).toEqual(['public.users']);
    expect(tables).toEqual(expect.arrayContaining(['acme_tidings.outbox', 'acme_tidings.inbox', 'acme_tidings.delivery_ledger', 'acme_tidings.tidings_migrations', 'acme_tidings.tidings_migrations_lock']));
    // The service's knex keeps its name mapping, and its connections their search_path.
    expect(await service('users').select('id', 'emailAddress')).toEqual([{ id: 'u1', emailAddress: 'u1@example.com' }]);
    const { rows } = await service.raw<{ rows: Array<{ search_path: string }> }>('SHOW search_path');
    expect(rows[0]?.search_path).toBe('"$user", public');

    expect(await migrate(service, { schema: 'acme_tidings' })).toEqual([]);
  });

  it('two services migrating a fresh database at once both succeed, and the migrations are applied once', async () => {
    const { databaseUrl, service } = await serviceDatabase();
    const other = serviceKnex(databaseUrl);
    cleanups.push(() => other.destroy());

    const results = await Promise.all([migrate(service, { schema: 'acme_tidings' }), migrate(other, { schema: 'acme_tidings' })]);

    expect(results.map((r) => r.length).sort((a, b) => a - b)).toEqual([0, ALL_MIGRATIONS.length]);
    const recorded = await service.withSchema('acme_tidings').from('tidings_migrations').orderBy('id').pluck('name');
    expect(recorded).toEqual(ALL_MIGRATIONS);
  });

  describe('with the real broker', () => {
    let ctx: TestContext;
    const relays: OutboxRelay[] = [];

    beforeEach(async () => {
      ctx = await createTestContext({ partitions: 2 });
    });

    afterEach(async () => {
      await Promise.all(relays.splice(0).map((r) => r.stop()));
      await ctx?.dispose();
    });

    /** A Platform on the test's topics whose tables are in `schema` of the service's database. */
    function platformFor(databaseUrl: string, schema: string): Platform {
      const platform = new Platform({ endpoints: { ...ctx.platform.endpoints, databaseUrl, databaseSchema: schema }, topics: ctx.topics, clientId: `${ctx.id}-${schema}` });
      cleanups.push(() => platform.close());
      return platform;
    }

    async function relay(platform: Platform): Promise<OutboxRelay> {
      const started = await startOutboxRelay(platform, { pollIntervalMs: 200 });
      relays.push(started);
      return started;
    }

    it("enqueues in the service's transaction: a rollback leaves neither the user nor the event, a commit both, and the relay publishes it", async () => {
      const { databaseUrl, service } = await serviceDatabase();
      await createUsersTable(service);
      await migrate(service, { schema: 'acme_tidings' });
      const platform = platformFor(databaseUrl, 'acme_tidings');
      const outbox = platform.createOutbox();
      const signUp = (id: string, fail: boolean) =>
        service.transaction(async (trx) => {
          const event = sampleEvent('USER_REGISTERED', { user_id: id });
          await trx('users').insert({ id, emailAddress: `${id}@example.com` });
          await outbox.enqueue(trx, 'USER_REGISTERED', event);
          if (fail) throw new Error('sign-up failed after the writes');
          return event;
        });

      await expect(signUp('doomed', true)).rejects.toThrow('sign-up failed after the writes');
      expect(await service('users').count({ n: '*' })).toEqual([{ n: '0' }]);
      expect(await platform.db('outbox').count({ n: '*' })).toEqual([{ n: '0' }]);

      const event = await signUp('ada', false);
      expect(await service('users').pluck('id')).toEqual(['ada']);
      expect(await service.withSchema('acme_tidings').from('outbox').pluck('event_id')).toEqual([event.event_id]);
      // The service's own schema has no outbox: the row went to Tidings' schema through the service's transaction.
      expect(await service.schema.hasTable('outbox')).toBe(false);

      await relay(platform);
      await waitFor('the outbox row marked published', async () => (await platform.db('outbox').whereNotNull('published_at').pluck('event_id')).includes(event.event_id));
      const records = await readTopic(ctx.platform.kafka, ctx.topics.auth);
      const record = records.find((r) => r.headers[EVENT_ID_HEADER] === event.event_id);
      expect(record?.key).toBe('ada');
      const decoded = await ctx.platform.registry.decode(record?.value ?? Buffer.alloc(0));
      expect(decoded.payload.event_id).toBe(event.event_id);
    });

    it('a relay whose schema was never migrated refuses to start, naming what to run', async () => {
      const { databaseUrl } = await serviceDatabase();
      const platform = platformFor(databaseUrl, 'never_migrated');
      await expect(relay(platform)).rejects.toThrow(/the outbox relay finds no outbox table on its search_path \("?never_migrated"?\): run `tidings migrate`/);
    });

    it("relays of two schemas in one database each publish every row of their own schema (they share no buckets)", async () => {
      const { databaseUrl, service } = await serviceDatabase();
      const schemas = ['acme_tidings', 'billing_tidings'] as const;
      const platforms = schemas.map((schema) => platformFor(databaseUrl, schema));
      const eventIds = new Map<string, string[]>();
      for (const [i, schema] of schemas.entries()) {
        await migrate(service, { schema });
        const outbox = platforms[i]!.createOutbox();
        // Distinct keys spread the rows over the relays' key buckets.
        const events = Array.from({ length: 24 }, (_, n) => sampleEvent('USER_REGISTERED', { user_id: `${schema}-user-${n}` }));
        await service.transaction(async (trx) => {
          for (const event of events) await outbox.enqueue(trx, 'USER_REGISTERED', event);
        });
        eventIds.set(schema, events.map((e) => e.event_id));
      }

      for (const platform of platforms) await relay(platform);

      for (const [i, schema] of schemas.entries()) {
        await waitFor(`every row of ${schema} published`, async () => (await platforms[i]!.db('outbox').whereNull('published_at').count({ n: '*' }))[0]?.n === '0', 20_000);
      }
      const published = new Set((await readTopic(ctx.platform.kafka, ctx.topics.auth)).map((r) => r.headers[EVENT_ID_HEADER]));
      for (const schema of schemas) expect(eventIds.get(schema)?.filter((id) => !published.has(id))).toEqual([]);
    });
  });

  it('refuses a TIDINGS_DB_SCHEMA, a migrate() schema or an Outbox schema that is not a plain identifier, naming it', async () => {
    expect(readEnv({}).TIDINGS_DB_SCHEMA).toBe('tidings');
    expect(() => readEnv({ TIDINGS_DB_SCHEMA: 'Acme-Tidings' })).toThrow(ConfigError);
    expect(() => readEnv({ TIDINGS_DB_SCHEMA: 'Acme-Tidings' })).toThrow(/TIDINGS_DB_SCHEMA must be a plain identifier/);
    expect(() => readEnv({ TIDINGS_DB_SCHEMA: 'a'.repeat(64) })).toThrow(/TIDINGS_DB_SCHEMA must be at most 63 characters/);
    expect(() => new Outbox({ schema: 'public; drop table users' })).toThrow(/invalid outbox options: schema must be a plain identifier/);

    const { service } = await serviceDatabase();
    await expect(migrate(service, { schema: '1st' })).rejects.toThrow(/invalid migrate options: schema must be a plain identifier/);
    await service.transaction(async (trx) => {
      await expect(migrate(trx, { schema: 'acme_tidings' })).rejects.toThrow('migrate() takes a knex instance, not a transaction');
    });
    expect(await tablesBySchema(service)).toEqual([]);
  });

  it('`tidings migrate --json` applies the migrations in TIDINGS_DB_SCHEMA and says so; a second run finds it up to date', async () => {
    const { databaseUrl, service } = await serviceDatabase();
    const env = { DATABASE_URL: databaseUrl, TIDINGS_DB_SCHEMA: 'cli_tidings' };

    const first = await runTidings(['migrate', '--json'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ schema: 'cli_tidings', applied: ALL_MIGRATIONS });
    expect((await tablesBySchema(service)).every((t) => t.startsWith('cli_tidings.'))).toBe(true);

    const second = await runTidings(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe('schema "cli_tidings" is up to date');

    const bad = await runTidings(['migrate'], { ...env, TIDINGS_DB_SCHEMA: 'Cli-Tidings' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/TIDINGS_DB_SCHEMA must be a plain identifier/);
  });
});
