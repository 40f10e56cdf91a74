import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import { startNotificationConsumer, type NotificationConsumer } from '../../consumers/notification';
import { createApiApp } from '../../src/api/app';
import { ApiKeys } from '../../src/api/auth/api-keys';
import { UserTokens } from '../../src/api/auth/user-tokens';
import { startApiServer } from '../../src/api/server';
import type { PaymentSucceeded } from '../../src/events/generated';
import { sampleEvent } from '../../src/events/samples';
import { Platform } from '../../src/platform';
import type { Publisher } from '../../src/producer/publisher';
import { TEST_USER_TOKEN_SECRET, type Json } from '../helpers/http';
import { createTestContext, type TestContext } from '../helpers/test-context';
import { runTidings } from '../helpers/tidings-cli';
import { waitFor } from '../helpers/wait';

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
interface Answer {
  status: number;
  body: Json;
  challenge: string | null;
}

/** What express registered: every route's method and path, read from the app's router, not from the route table. */
function registeredRoutes(app: Express): Array<{ method: string; path: string }> {
  const stack = (app as unknown as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } }).router.stack;
  return stack.flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((method) => ({ method, path: layer.route!.path })) : []));
}

/** The admin API as `tidings api` serves it, on this file's database, Kafka and registry. */
describe('admin API: API keys with scopes, per-user tokens, OpenAPI 3.1', () => {
  let ctx: TestContext;
  let app: Express;
  let server: Server;
  let url: string;
  let consumer: NotificationConsumer;
  let publisher: Publisher;
  const keys: Record<'read' | 'operate' | 'admin', string> = { read: '', operate: '', admin: '' };
  const tokens = new UserTokens(TEST_USER_TOKEN_SECRET);
  const cliEnv = (): Record<string, string> => ({ DATABASE_URL: ctx.databaseUrl, TIDINGS_ACTOR: 'ada@ops', TIDINGS_USER_TOKEN_SECRET: TEST_USER_TOKEN_SECRET });

  beforeAll(async () => {
    ctx = await createTestContext();
    app = createApiApp({ db: ctx.db, platform: ctx.platform, userTokenSecret: TEST_USER_TOKEN_SECRET });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const apiKeys = new ApiKeys(ctx.db);
    for (const scope of ['read', 'operate', 'admin'] as const) keys[scope] = (await apiKeys.create({ name: `test-${scope}`, scope, actor: 'test' })).key;
    publisher = ctx.platform.createPublisher();
    [consumer] = await Promise.all([startNotificationConsumer(ctx.platform, { groupId: ctx.groupId('notification') }), publisher.connect()]);
  });

  afterAll(async () => {
    await Promise.all([consumer?.stop(), publisher?.disconnect(), new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))]);
    await ctx?.dispose();
  });

  const request = async (method: Method, route: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json, challenge: response.headers.get('www-authenticate') };
  };
  const bearer = (credential: string): Record<string, string> => ({ authorization: `Bearer ${credential}` });

  it('`apikeys create` prints the key once and stores only its hash; `list` never shows a secret; a revoked key is refused', async () => {
    const created = await runTidings(['apikeys', 'create', '--scope', 'operate', '--name', 'oncall', '--reason', 'on-call rotation'], cliEnv());
    expect(created).toMatchObject({ code: 0, stderr: expect.stringContaining('shown only this once') });
    const key = created.stdout.trim();
    expect(key).toMatch(/^tdk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const [, id, secret] = /^tdk_([0-9a-f]{16})_(.+)$/.exec(key)!;

    // The database holds the SHA-256 of the secret, and neither the secret nor the key anywhere in these tables.
    const row = (await ctx.db('api_keys').where({ id }).first()) as Record<string, unknown>;
    expect(row).toMatchObject({ name: 'oncall', scope: 'operate', secret_sha256: createHash('sha256').update(secret!).digest('hex'), created_by: 'ada@ops', revoked_at: null });
    const stored = (await ctx.db.raw(`SELECT (SELECT json_agg(k)::text FROM api_keys k) AS keys, (SELECT json_agg(a)::text FROM operator_actions a) AS actions`)) as { rows: Array<{ keys: string; actions: string }> };
    expect(stored.rows[0]!.keys).not.toContain(secret);
    expect(stored.rows[0]!.actions).not.toContain(secret);

    // The key works; list shows it used, with no secret in the output.
    expect((await request('GET', '/admin/actions', bearer(key))).status).toBe(200);
    const listed = await runTidings(['apikeys', 'list', '--json'], cliEnv());
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(secret);
    const oncall = (JSON.parse(listed.stdout) as Json[]).find((k) => k.name === 'oncall');
    expect(oncall).toEqual({ id, name: 'oncall', scope: 'operate', createdAt: expect.any(String), createdBy: 'ada@ops', lastUsedAt: expect.any(String), revokedAt: null, revokedBy: null });
    const table = await runTidings(['apikeys', 'list'], cliEnv());
    expect(table.stdout).toMatch(/^ID\s+NAME\s+SCOPE\s+CREATED\s+CREATED BY\s+LAST USED\s+REVOKED/);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+oncall\\s+operate\\s`));

    const revoked = await runTidings(['apikeys', 'revoke', 'oncall', '--reason', 'left the team'], cliEnv());
    expect(revoked).toMatchObject({ code: 0, stdout: expect.stringContaining(`revoked API key "oncall" (id ${id}`) });
    expect(await request('GET', '/admin/actions', bearer(key))).toMatchObject({ status: 401, body: { error: 'unauthorized' }, challenge: 'Bearer realm="tidings", error="invalid_token"' });
    expect(await request('GET', '/users/anyone/notifications', bearer(key))).toMatchObject({ status: 401 });
    const again = await runTidings(['apikeys', 'revoke', id!], cliEnv());
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining('was revoked already') });

    // Both changes are operator actions: who, what, why.
    const actions = (await request('GET', '/admin/actions?limit=5', bearer(keys.read))).body.actions as Json[];
    expect(actions.filter((a) => a.target === 'oncall').map((a) => [a.action, a.actor, a.reason, (a.details as Json).keyId])).toEqual([
      ['apikey.revoke', 'ada@ops', 'left the team', id],
      ['apikey.create', 'ada@ops', 'on-call rotation', id],
    ]);
  });

  it('`apikeys` refuses a bad scope or a taken name naming the fix; `user-token` prints the HMAC token; `tidings api` needs the secret', async () => {
    const [badScope, taken, userToken, noSecret] = await Promise.all([
      runTidings(['apikeys', 'create', '--scope', 'root', '--name', 'x'], cliEnv()),
      runTidings(['apikeys', 'create', '--scope', 'read', '--name', 'test-read'], cliEnv()),
      runTidings(['apikeys', 'user-token', 'u-42'], cliEnv()),
      runTidings(['api', '--port', '0'], { ...cliEnv(), TIDINGS_USER_TOKEN_SECRET: '' }),
    ]);
    expect(badScope).toMatchObject({ code: 1, stderr: expect.stringContaining('scope must be one of read, operate, admin') });
    expect(taken).toMatchObject({ code: 1, stderr: expect.stringContaining('an API key named "test-read" exists already') });
    // What any backend computes: the user id, a dot, hex HMAC-SHA256 of the user id under the secret.
    expect(userToken).toMatchObject({ code: 0, stdout: `u-42.${createHmac('sha256', TEST_USER_TOKEN_SECRET).update('u-42').digest('hex')}\n` });
    expect(noSecret).toMatchObject({ code: 1, stderr: expect.stringContaining('TIDINGS_USER_TOKEN_SECRET is not set') });
    expect(noSecret.stderr).toContain('--insecure-no-user-auth');
  });

  it('`tidings api --insecure-no-user-auth` serves user endpoints without tokens, but admin endpoints still need a key', async () => {
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tidings.cjs'), 'api', '--port', '0', '--insecure-no-user-auth'], {
      env: { ...process.env, ...cliEnv(), TIDINGS_USER_TOKEN_SECRET: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const base = await waitFor('tidings api to listen', () => /"url":"(http:[^"]+)"[^\n]*serving the API/.exec(output)?.[1], 30_000);
      expect(output).toContain('user authentication is OFF');
      expect((await fetch(`${base}/users/anyone/notifications`)).status).toBe(200);
      expect((await fetch(`${base}/admin/actions`)).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('admin endpoints: 401 without a key or with an unknown one, 403 with too low a scope, 400 naming the field', async () => {
    const noKey = await request('GET', '/admin/actions');
    expect(noKey).toMatchObject({ status: 401, body: { error: 'unauthorized', message: expect.stringContaining('API key') }, challenge: 'Bearer realm="tidings"' });
    const forged = keys.read.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    for (const credential of [forged, 'tdk_0000000000000000_' + 'A'.repeat(43), 'not-a-key', tokens.issue('u-1')]) {
      expect(await request('GET', '/admin/actions', bearer(credential))).toMatchObject({ status: 401, challenge: 'Bearer realm="tidings", error="invalid_token"' });
    }
    expect((await request('GET', '/admin/actions', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })).status).toBe(401);

    for (const scope of ['read', 'operate'] as const) {
      const answer = await request('GET', '/admin/apikeys', bearer(keys[scope]));
      expect(answer).toMatchObject({ status: 403, body: { error: 'forbidden' }, challenge: 'Bearer realm="tidings", error="insufficient_scope", scope="admin"' });
      expect(answer.body.message).toContain(`key "test-${scope}" has "${scope}"`);
    }
    const listed = await request('GET', '/admin/apikeys', bearer(keys.admin));
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toMatch(/secret|tdk_/);
    // admin implies operate implies read.
    for (const scope of ['read', 'operate', 'admin'] as const) expect((await request('GET', '/admin/users/u-1/deliveries', bearer(keys[scope]))).status).toBe(200);

    const invalid: Array<[Method, string, unknown, string]> = [
      ['GET', '/admin/users/u-1/deliveries?status=lost', undefined, 'status'],
      ['GET', '/admin/users/u-1/deliveries?channel=fax', undefined, 'channel'],
      ['GET', '/admin/users/u-1/deliveries?limit=0', undefined, 'limit'],
      ['GET', '/admin/users/u-1/deliveries?before=x', undefined, 'before'],
      ['GET', '/admin/actions?action=drop-tables', undefined, 'action'],
      ['POST', '/admin/apikeys/test-read/revoke', {}, 'reason'],
      ['POST', '/admin/apikeys/test-read/revoke', { reason: '   ' }, 'reason'],
      ['POST', '/admin/apikeys/test-read/revoke', { reason: 'x', force: true }, 'body'],
    ];
    for (const [method, route, body, field] of invalid) {
      const answer = await request(method, route, bearer(keys.admin), body);
      expect({ route, status: answer.status, field: answer.body.field }).toEqual({ route, status: 400, field });
      expect(String(answer.body.message)).toContain(`${field}:`);
    }
    // A stranger's bad request is a 401, not a 400: validation comes after authentication.
    expect((await request('POST', '/admin/apikeys/test-read/revoke', {}, {})).status).toBe(401);
    // Nothing was revoked by the refused requests.
    expect((await request('GET', '/admin/actions', bearer(keys.read))).status).toBe(200);
  });

  it('an admin key revokes a key over the API, recorded with the calling key as the actor', async () => {
    const victim = await new ApiKeys(ctx.db).create({ name: 'leaked', scope: 'read', actor: 'test' });
    expect((await request('GET', '/admin/actions', bearer(victim.key))).status).toBe(200);
    const revoked = await request('POST', '/admin/apikeys/leaked/revoke', bearer(keys.admin), { reason: 'pasted in a public channel' });
    expect(revoked).toMatchObject({ status: 200, body: { key: { id: victim.id, name: 'leaked', revokedBy: 'apikey:test-admin' } } });
    expect((await request('GET', '/admin/actions', bearer(victim.key))).status).toBe(401);
    expect(await request('POST', `/admin/apikeys/${victim.id}/revoke`, bearer(keys.admin), { reason: 'again' })).toMatchObject({ status: 409, body: { error: 'already_revoked' } });
    expect(await request('POST', '/admin/apikeys/nobody/revoke', bearer(keys.admin), { reason: 'x' })).toMatchObject({ status: 404 });
    const [action] = (await request('GET', '/admin/actions?action=apikey.revoke&limit=1', bearer(keys.read))).body.actions as Json[];
    expect(action).toMatchObject({ actor: 'apikey:test-admin', target: 'leaked', reason: 'pasted in a public channel' });
  });

  it('serves an OpenAPI 3.1 document listing every registered route, generated from the schemas that reject bad input with 400 naming the field', async () => {
    const { status, body } = await request('GET', '/openapi.json');
    expect(status).toBe(200);
    const doc = body as { openapi: string; info: Json; paths: Record<string, Record<string, Json>>; components: { securitySchemes: Record<string, Json>; schemas: Record<string, Json> } };

    // Every route express serves is documented, and nothing else is.
    const served = registeredRoutes(app).map((r) => `${r.method.toUpperCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(served.length).toBeGreaterThanOrEqual(20);
    expect(documented.sort()).toEqual([...served].sort());

    // Structure of OpenAPI 3.1 (the parts this document uses).
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const operationIds = new Set<string>();
    const refs: string[] = [];
    JSON.stringify(doc, (key, value: unknown) => {
      if (key === '$ref') refs.push(String(value));
      return value;
    });
    for (const ref of refs) {
      const target = ref.replace(/^#\//, '').split('/').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect([ref, target !== undefined]).toEqual([ref, true]);
    }
    for (const [template, operations] of Object.entries(doc.paths)) {
      expect(template).toMatch(/^\//);
      const templated = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(operations)) {
        const where = `${method} ${template}`;
        expect([where, ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(method)]).toEqual([where, true]);
        expect([where, typeof op.operationId, operationIds.has(op.operationId as string)]).toEqual([where, 'string', false]);
        operationIds.add(op.operationId as string);
        const parameters = (op.parameters ?? []) as Json[];
        for (const p of parameters) expect([where, p.name, typeof p.name, ['path', 'query', 'header', 'cookie'].includes(p.in as string), typeof p.schema]).toEqual([where, p.name, 'string', true, 'object']);
        const inPath = parameters.filter((p) => p.in === 'path');
        expect([where, inPath.map((p) => p.name).sort()]).toEqual([where, templated]);
        expect([where, inPath.every((p) => p.required === true)]).toEqual([where, true]);
        const responses = Object.entries(op.responses as Record<string, Json>);
        expect([where, responses.length > 0, responses.every(([code, r]) => /^[1-5]\d\d$/.test(code) && typeof r.description === 'string')]).toEqual([where, true, true]);
        for (const requirement of (op.security ?? []) as Array<Record<string, string[]>>) {
          for (const scheme of Object.keys(requirement)) expect([where, scheme in doc.components.securitySchemes]).toEqual([where, true]);
        }
        if (op.requestBody) expect((op.requestBody as { content: Record<string, Json> }).content['application/json']?.schema).toEqual(expect.any(Object));
      }
    }

    // Each documented request field, sent a value of the wrong type, is refused with a 400 naming it
    // (with the admin key, which may act on any user, so every route gets past authentication).
    const wrongValue = (schema: Json): unknown => (schema.type === 'string' ? 12345 : schema.type === 'array' ? 'not-a-list' : schema.const === true ? false : 'not-a-number-or-boolean');
    // A path value each route accepts, so the body or query is what gets refused.
    const sample = (p: Json): string => {
      const schema = p.schema as Json;
      const first = (schema.enum as string[] | undefined)?.[0];
      if (first !== undefined) return first;
      if (schema.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
      if (typeof schema.pattern === 'string' && schema.pattern.includes('\\d')) return '1';
      return 'u-openapi';
    };
    let checked = 0;
    for (const [template, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const parameters = (op.parameters ?? []) as Json[];
        const route = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(sample(parameters.find((p) => p.name === name)!)));
        const body = (op.requestBody as { content: Record<string, { schema: Json }> } | undefined)?.content['application/json']?.schema;
        for (const [field, schema] of Object.entries((body?.properties ?? {}) as Record<string, Json>)) {
          const answer = await request(method.toUpperCase() as Method, route, bearer(keys.admin), { [field]: wrongValue(schema) });
          expect({ at: `${method} ${template} body.${field}`, status: answer.status, named: (answer.body.issues as Json[]).some((i) => i.field === field) }).toEqual({ at: `${method} ${template} body.${field}`, status: 400, named: true });
          checked++;
        }
        for (const p of parameters.filter((q) => q.in === 'query')) {
          const schema = p.schema as Json;
          if (schema.type !== 'integer' && schema.enum === undefined && schema.pattern === undefined) continue;
          const answer = await request(method.toUpperCase() as Method, `${route}?${String(p.name)}=${encodeURIComponent('~bad~')}`, bearer(keys.admin));
          expect({ at: `${method} ${template} ?${String(p.name)}`, status: answer.status, field: answer.body.field }).toEqual({ at: `${method} ${template} ?${String(p.name)}`, status: 400, field: p.name });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it("a device token registered to another user moves only when the caller proves the new user", async () => {
    const as = (user: string): Record<string, string> => bearer(tokens.issue(user));
    const owner = async (): Promise<string | undefined> => ((await ctx.db('device_tokens').where({ token: 'tok-shared' }).first('user_id')) as { user_id: string } | undefined)?.user_id;

    expect((await request('PUT', '/users/ann/devices/tok-shared', as('ann'), { platform: 'ios' })).status).toBe(200);
    // Someone else's token for the path's user, or the path's user's token for someone else's path: refused.
    expect((await request('PUT', '/users/ben/devices/tok-shared', as('ann'), { platform: 'ios' })).status).toBe(403);
    expect((await request('PUT', '/users/ben/devices/tok-shared', { 'x-tidings-user-token': tokens.issue('eve') }, { platform: 'ios' })).status).toBe(403);
    // An operator's key does not prove ben: it cannot redirect ann's pushes to him.
    expect(await request('PUT', '/users/ben/devices/tok-shared', bearer(keys.operate), { platform: 'ios' })).toMatchObject({ status: 409, body: { error: 'token_registered_to_another_user', field: 'token' } });
    expect(await owner()).toBe('ann');
    // Ben signing in on that device proves ben: the token moves to him.
    expect(await request('PUT', '/users/ben/devices/tok-shared', as('ben'), { platform: 'ios' })).toMatchObject({ status: 200, body: { userId: 'ben', device: { token: 'tok-shared', live: true } } });
    expect(await owner()).toBe('ben');
    // Ann can no longer remove it, nor see it.
    expect((await request('DELETE', '/users/ann/devices/tok-shared', as('ann'))).body).toMatchObject({ removed: false });
    expect((await request('GET', '/users/ann/devices', as('ann'))).body).toEqual({ userId: 'ann', devices: [] });
    expect(await owner()).toBe('ben');
    // The operator's key may register a token nobody has, and a user's own token again.
    expect((await request('PUT', '/users/cat/devices/tok-new', bearer(keys.operate), { platform: 'android' })).status).toBe(200);
    expect((await request('PUT', '/users/ben/devices/tok-shared', bearer(keys.operate), { platform: 'android' })).status).toBe(200);
  });

  it("shows a user's delivery history (ledger rows with provider attempts) and receipt after a real payment went through the notification group", async () => {
    const user = 'u-history';
    const paid = sampleEvent('PAYMENT_SUCCEEDED', { user_id: user }) as PaymentSucceeded;
    await publisher.publish('PAYMENT_SUCCEEDED', paid);
    const sent = await waitFor('the payment to be delivered', async () => {
      const rows = (await ctx.db('delivery_ledger').where({ event_id: paid.event_id })) as Array<{ status: string }>;
      return rows.length > 0 && rows.every((r) => r.status !== 'pending' && r.status !== 'sending') ? rows : undefined;
    });

    const history = await request('GET', `/admin/users/${user}/deliveries`, bearer(keys.read));
    expect(history.status).toBe(200);
    const deliveries = history.body.deliveries as Json[];
    expect(deliveries).toHaveLength(sent.length);
    const email = deliveries.find((d) => d.channel === 'email');
    expect(email).toMatchObject({ eventId: paid.event_id, eventType: 'PAYMENT_SUCCEEDED', status: 'sent', recipient: paid.recipient.email, providerMessageId: expect.any(String) });
    expect(email!.history).toEqual([expect.objectContaining({ status: 'sent', provider: expect.any(String), latencyMs: expect.any(Number) })]);
    expect(history.body.nextBefore).toBeNull();
    // Filters, and paging with the cursor.
    expect(((await request('GET', `/admin/users/${user}/deliveries?channel=email`, bearer(keys.read))).body.deliveries as Json[]).map((d) => d.channel)).toEqual(['email']);
    expect((await request('GET', `/admin/users/${user}/deliveries?status=failed`, bearer(keys.read))).body.deliveries).toEqual([]);
    const page1 = (await request('GET', `/admin/users/${user}/deliveries?limit=1`, bearer(keys.read))).body;
    expect(page1.nextBefore).toBe((page1.deliveries as Json[])[0]!.id);
    expect((await request('GET', '/admin/users/nobody/deliveries', bearer(keys.read))).body).toEqual({ userId: 'nobody', deliveries: [], nextBefore: null });

    const receipt = await waitFor('the receipt', async () => {
      const answer = await request('GET', `/admin/payments/${encodeURIComponent(paid.payment_id)}/receipt`, bearer(keys.read));
      return answer.status === 200 ? answer.body : undefined;
    });
    expect(receipt.records).toEqual([expect.objectContaining({ kind: 'receipt', userId: user, eventId: paid.event_id, verified: true })]);
    expect((await request('GET', `/admin/users/${user}/receipts`, bearer(keys.read))).body.records).toEqual([expect.objectContaining({ paymentId: paid.payment_id })]);
  });

  it('reports liveness, and readiness of PostgreSQL, Kafka and the registry, naming the dependency that does not answer', async () => {
    expect(await request('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await request('GET', '/readyz')).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { postgres: { ok: true }, kafka: { ok: true }, registry: { ok: true } } },
    });

    // The same API with Kafka and the registry pointing at ports where nothing listens.
    const nowhere = new Platform({ endpoints: { ...ctx.platform.endpoints, kafkaBrokers: ['127.0.0.1:1'], schemaRegistryUrl: 'http://127.0.0.1:1/apis/ccompat/v7' }, topics: ctx.topics });
    const broken = await startApiServer({ db: ctx.db, platform: nowhere, userTokenSecret: TEST_USER_TOKEN_SECRET, port: 0 });
    try {
      const started = Date.now();
      const response = await fetch(`${broken.url}/readyz`);
      expect(Date.now() - started).toBeLessThan(5000);
      expect({ status: response.status, body: await response.json() }).toMatchObject({
        status: 503,
        body: { status: 'not_ready', checks: { postgres: { ok: true }, kafka: { ok: false, reason: expect.any(String) }, registry: { ok: false } } },
      });
    } finally {
      await broken.close();
    }
  });
});
