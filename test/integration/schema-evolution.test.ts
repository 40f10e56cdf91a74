import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from 'avsc';
import { startNotificationConsumer } from '../../consumers/notification';
import { getEventDefinition } from '../../src/events/catalog';
import { loadSchemaSources, SCHEMA_DIR, type AvroField } from '../../src/events/schema-source';
import { sampleEvent } from '../../src/events/samples';
import { frame, subjectFor } from '../../src/registry/event-registry';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings } from '../helpers/tidings-cli';

/** A copy of this build's contract in which PaymentSucceeded gains `field`: what an operator checks before deploying. */
function contractWith(field: AvroField): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-contract-'));
  fs.cpSync(SCHEMA_DIR, dir, { recursive: true });
  const file = path.join(dir, 'payment', 'PaymentSucceeded.avsc');
  const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as { fields: AvroField[] };
  schema.fields.push(field);
  fs.writeFileSync(file, JSON.stringify(schema, null, 2));
  return dir;
}

describe('schema evolution', () => {
  let ctx: TestContext;
  let subject: string;
  const dirs: string[] = [];
  const cli = (...args: string[]) =>
    runTidings(['schemas', ...args, '--topic-prefix', `${ctx.id}.`], { SCHEMA_REGISTRY_URL: ctx.platform.registry.url });
  const versions = async (): Promise<unknown> => (await fetch(`${ctx.platform.registry.url}/subjects/${encodeURIComponent(subject)}/versions`)).json();

  beforeAll(async () => {
    // Registers this build's (v1) schemas under the context's topics, BACKWARD.
    ctx = await createTestContext();
    subject = subjectFor(ctx.topics.payment, getEventDefinition('PAYMENT_SUCCEEDED'));
  });

  afterAll(async () => {
    await ctx.dispose();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a v2 writer with a new optional field is accepted, and its records are read by this build\'s v1 consumer', async () => {
    const v2 = contractWith({ name: 'loyalty_points', type: ['null', 'int'], default: null, doc: 'Points earned by this payment.' });
    dirs.push(v2);

    const check = await cli('check', '--dir', v2);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`${subject}: compatible, would be registered`);
    expect(check.stdout).toMatch(new RegExp(`${ctx.topics.auth.replace(/\./g, '\\.')}-tidings\\.auth\\.UserRegistered: registered \\(id \\d+\\)`));

    const register = await cli('register', '--dir', v2);
    expect({ code: register.code, stderr: register.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await versions()).toEqual([1, 2]);

    const v2Schema = loadSchemaSources(v2).events.find((e) => e.name === 'PaymentSucceeded')?.schema;
    const v2Id = await ctx.platform.registry.findSchemaId(subject, v2Schema as object);
    expect(register.stdout).toContain(`registered ${subject} (id ${v2Id})`);
    const v2Type = Type.forSchema(v2Schema as Parameters<typeof Type.forSchema>[0]);

    const consumer = await startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification') });
    const raw = ctx.platform.kafka.producer();
    await raw.connect();
    try {
      const base = sampleEvent('PAYMENT_SUCCEEDED', { user_id: 'user-v2' });
      const event = { ...base, recipient: { ...base.recipient, email: 'v2-reader@example.com' }, loyalty_points: 42 };
      const value = Buffer.from(frame(v2Id as number, v2Type, event));
      await raw.send({ topic: ctx.topics.payment, messages: [{ key: 'user-v2', value }] });

      const decoded = await ctx.platform.registry.decode(value);
      expect(decoded.schemaId).toBe(v2Id);
      expect(decoded.payload.event_id).toBe(event.event_id);
      expect(decoded.payload).not.toHaveProperty('loyalty_points');

      const [mail] = await ctx.mail.waitFor((all) => all.some((m) => m.to.includes('v2-reader@example.com')), 60_000);
      expect(mail?.to).toContain('v2-reader@example.com');
      expect(await ctx.db('receipts').where({ event_id: event.event_id })).toHaveLength(1);
    } finally {
      await raw.disconnect();
      await consumer.stop();
    }
  });

  it('an incompatible change (a new required field) is refused by `tidings schemas register` with the registry\'s reason, and nothing is registered', async () => {
    const v3 = contractWith({ name: 'tax_id', type: 'string', doc: 'Required, and without a default: old records lack it.' });
    dirs.push(v3);
    const before = await versions();

    const check = await cli('check', '--dir', v3);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`${subject}: INCOMPATIBLE with its latest version`);
    expect(check.stderr).toContain(`1 schema(s) incompatible with the latest registered version: ${subject}`);

    const register = await cli('register', '--dir', v3);
    expect(register.code).toBe(1);
    expect(register.stdout).toBe('');
    expect(register.stderr).toContain(`registering ${subject} failed (HTTP 409`);
    // Apicurio's reason names the offending field.
    expect(register.stderr).toMatch(/Incompatible artifact.*tax_id/);
    expect(register.stderr).toContain('nothing was registered');
    expect(await versions()).toEqual(before);
  });
});
