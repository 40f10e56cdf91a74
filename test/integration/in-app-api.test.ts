import { randomUUID } from 'node:crypto';
import { ApiKeys } from '../../src/api/auth/api-keys';
import { UserTokens } from '../../src/api/auth/user-tokens';
import { startApiServer, type ApiServer } from '../../src/api/server';
import type { Db } from '../../src/db/database';
import { ProviderError } from '../../src/errors';
import { InAppProvider } from '../../src/in-app/in-app-provider';
import { InAppStore, type InAppNotification } from '../../src/in-app/in-app-store';
import { LegalRecords } from '../../src/legal/legal-records';
import type { OutboundMessage } from '../../src/notifications/channels/channel';
import { TEST_USER_TOKEN_SECRET, asPathUser, jsonClient, type Json, type JsonResponse } from '../helpers/http';
import { createTestDatabase } from '../helpers/test-database';

describe('in-app notifications and receipts over the HTTP API', () => {
  let db: Db;
  let dispose: (() => Promise<void>) | undefined;
  let api: ApiServer;
  const store = (): InAppStore => new InAppStore(db);

  beforeAll(async () => {
    ({ db, dispose } = await createTestDatabase());
    api = await startApiServer({ db, port: 0, userTokenSecret: TEST_USER_TOKEN_SECRET });
  });

  afterAll(async () => {
    await api?.close();
    await dispose?.();
  });

  // Each call carries the token of the user its path names, as that user's app would.
  const call = jsonClient(() => api.url, asPathUser());
  const get = (path: string): Promise<JsonResponse> => call('GET', path);
  const post = (path: string, body: unknown, raw = false): Promise<JsonResponse> => call('POST', path, raw ? String(body) : body);
  const fetchAs = async (path: string, headers: Record<string, string>): Promise<{ status: number; body: Json; challenge: string | null }> => {
    const response = await fetch(`${api.url}${path}`, { headers });
    return { status: response.status, body: (await response.json()) as Json, challenge: response.headers.get('www-authenticate') };
  };
  const message = (userId: string, title: string, data: Record<string, string> = {}): OutboundMessage => ({
    channel: 'in_app',
    eventId: randomUUID(),
    userId,
    recipient: userId,
    title,
    text: `${title}, in detail`,
    data,
    idempotencyKey: randomUUID(),
  });

  it('shows what the in-app provider delivered, newest first, once per event even when sent twice', async () => {
    const provider = new InAppProvider({ db });
    const first = message('user-a', 'Payment received', { kind: 'PAYMENT_SUCCEEDED', payment_id: 'pay_a' });
    const receipt1 = await provider.send(first);
    const receipt2 = await provider.send(first);
    expect(receipt2).toEqual(receipt1);
    await provider.send(message('user-a', 'New sign-in', { kind: 'LOGIN_ALERT' }));
    await provider.send(message('user-b', 'Someone else’s'));

    const { status, body } = await get('/users/user-a/notifications');
    expect(status).toBe(200);
    const list = body.notifications as InAppNotification[];
    expect(list.map((n) => [n.title, n.kind, n.readAt])).toEqual([
      ['New sign-in', 'LOGIN_ALERT', null],
      ['Payment received', 'PAYMENT_SUCCEEDED', null],
    ]);
    expect(list[1]).toMatchObject({ userId: 'user-a', eventId: first.eventId, body: 'Payment received, in detail', data: { payment_id: 'pay_a' } });
    expect(`in_app:${list[1]!.id}`).toBe(receipt1.providerMessageId);
    expect(body.nextBefore).toBeNull();
  });

  it('counts unread notifications, marks chosen ones read, then all, touching only that user’s', async () => {
    const user = 'user-c';
    const added = [];
    for (let i = 0; i < 4; i++) added.push((await store().add(db, { userId: user, eventId: randomUUID(), kind: 'LOGIN_ALERT', title: `alert ${i}`, body: '…' })).notification);
    const other = (await store().add(db, { userId: 'user-d', eventId: randomUUID(), kind: 'LOGIN_ALERT', title: 'not yours', body: '…' })).notification;

    expect((await get(`/users/${user}/notifications/unread-count`)).body).toEqual({ userId: user, unread: 4 });
    // Another user's id in the list is ignored, not marked.
    expect((await post(`/users/${user}/notifications/read`, { ids: [added[0]!.id, added[1]!.id, other.id] })).body).toEqual({ marked: 2, unread: 2 });
    expect((await get(`/users/${user}/notifications/unread-count`)).body).toMatchObject({ unread: 2 });
    expect((await get('/users/user-d/notifications/unread-count')).body).toMatchObject({ unread: 1 });

    const unread = (await get(`/users/${user}/notifications?unread=true`)).body.notifications as InAppNotification[];
    expect(unread.map((n) => n.title)).toEqual(['alert 3', 'alert 2']);

    expect((await post(`/users/${user}/notifications/read`, { all: true })).body).toEqual({ marked: 2, unread: 0 });
    const all = (await get(`/users/${user}/notifications`)).body.notifications as InAppNotification[];
    expect(all.every((n) => n.readAt !== null)).toBe(true);
  });

  it('pages through a long list with limit and the returned cursor', async () => {
    const user = 'user-pages';
    for (let i = 0; i < 5; i++) await store().add(db, { userId: user, eventId: randomUUID(), kind: 'k', title: `n${i}`, body: '' });
    const page1 = (await get(`/users/${user}/notifications?limit=2`)).body;
    const page2 = (await get(`/users/${user}/notifications?limit=2&before=${String(page1.nextBefore)}`)).body;
    const page3 = (await get(`/users/${user}/notifications?limit=2&before=${String(page2.nextBefore)}`)).body;
    const titles = [page1, page2, page3].flatMap((p) => (p.notifications as InAppNotification[]).map((n) => n.title));
    expect(titles).toEqual(['n4', 'n3', 'n2', 'n1', 'n0']);
    expect(page3.nextBefore).toBeNull();
  });

  it('answers invalid input with 400 naming the field', async () => {
    const cases: Array<[Promise<JsonResponse>, string]> = [
      [get('/users/u/notifications?limit=0'), 'limit'],
      [get('/users/u/notifications?limit=abc'), 'limit'],
      [get('/users/u/notifications?limit=1000'), 'limit'],
      [get('/users/u/notifications?unread=maybe'), 'unread'],
      [get('/users/u/notifications?before=-3'), 'before'],
      [post('/users/u/notifications/read', { ids: [] }), 'ids'],
      [post('/users/u/notifications/read', { ids: ['one'] }), 'ids.0'],
      [post('/users/u/notifications/read', { all: false }), 'all'],
      [post('/users/u/notifications/read', {}), 'body'],
      [post('/users/u/notifications/read', { ids: [1], all: true }), 'body'],
      [post('/users/u/notifications/read', '{not json', true), 'body'],
    ];
    for (const [request, field] of cases) {
      const { status, body } = await request;
      expect({ status, field: body.field, error: body.error }).toEqual({ status: 400, field, error: 'invalid_request' });
      expect(String(body.message)).toContain(`${field}:`);
    }
  });

  it('serves receipts by payment and by user under /admin with an API key, each with its hash verified; /legal/… is gone', async () => {
    const legal = new LegalRecords(db);
    const { record } = await legal.append(db, { kind: 'receipt', eventId: randomUUID(), paymentId: 'pay_http', userId: 'user-legal', document: { amount: { amount_minor: 1200, currency: 'EUR' } } });
    const { key } = await new ApiKeys(db).create({ name: 'support', scope: 'read', actor: 'test' });
    const admin = { authorization: `Bearer ${key}` };

    const byPayment = await fetchAs('/admin/payments/pay_http/receipt', admin);
    expect(byPayment.status).toBe(200);
    expect(byPayment.body.records).toEqual([expect.objectContaining({ id: record.id, kind: 'receipt', contentHash: record.contentHash, verified: true })]);
    expect((await fetchAs('/admin/users/user-legal/receipts', admin)).body.records).toEqual([expect.objectContaining({ id: record.id, paymentId: 'pay_http' })]);
    expect((await fetchAs('/admin/payments/pay_unknown/receipt', admin)).status).toBe(404);
    // A user's own token is not an admin credential.
    expect((await fetchAs('/admin/users/user-legal/receipts', asPathUser()('/users/user-legal'))).status).toBe(401);
    expect((await fetchAs('/admin/users/user-legal/receipts', {})).status).toBe(401);
    expect((await fetchAs('/legal/users/user-legal', admin)).status).toBe(404);
  });

  it("a user's token opens that user's inbox only; another user's token gets 403, none or a forged one 401", async () => {
    await store().add(db, { userId: 'alice', eventId: randomUUID(), kind: 'LOGIN_ALERT', title: 'for alice only', body: '…' });
    const tokens = new UserTokens(TEST_USER_TOKEN_SECRET);
    const path = '/users/alice/notifications';

    const own = await fetchAs(path, { authorization: `Bearer ${tokens.issue('alice')}` });
    expect(own.status).toBe(200);
    expect((own.body.notifications as InAppNotification[]).map((n) => n.title)).toEqual(['for alice only']);
    // The same token in the header of its own.
    expect((await fetchAs(path, { 'x-tidings-user-token': tokens.issue('alice') })).status).toBe(200);

    const mallory = await fetchAs(path, { authorization: `Bearer ${tokens.issue('mallory')}` });
    expect(mallory).toMatchObject({ status: 403, body: { error: 'forbidden', message: expect.stringContaining('another user') } });
    expect(JSON.stringify(mallory.body)).not.toContain('for alice only');
    expect((await fetchAs('/users/alice/notifications/unread-count', { 'x-tidings-user-token': tokens.issue('mallory') })).status).toBe(403);
    const markAsMallory = await fetch(`${api.url}/users/alice/notifications/read`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.issue('mallory')}` }, body: JSON.stringify({ all: true }) });
    expect(markAsMallory.status).toBe(403);
    expect((await get('/users/alice/notifications/unread-count')).body).toMatchObject({ unread: 1 });

    const none = await fetchAs(path, {});
    expect(none).toMatchObject({ status: 401, body: { error: 'unauthorized' }, challenge: 'Bearer realm="tidings"' });
    // Signed with another secret, or the HMAC of another user under alice's name: forged.
    const otherSecret = new UserTokens('another-secret-of-at-least-32-characters').issue('alice');
    const spliced = `alice.${tokens.signature('mallory')}`;
    for (const forged of [otherSecret, spliced, 'alice', 'alice.', `${tokens.issue('alice')}0`]) {
      expect(await fetchAs(path, { authorization: `Bearer ${forged}` })).toMatchObject({ status: 401, challenge: 'Bearer realm="tidings", error="invalid_token"' });
    }
    // A user's wrong token is refused before the request is validated: a stranger learns nothing from a 400.
    expect((await fetchAs('/users/alice/notifications?limit=0', {})).status).toBe(401);
  });

  it('an API key with scope operate may act on any user; a read key may not', async () => {
    const keys = new ApiKeys(db);
    const operate = (await keys.create({ name: 'oncall', scope: 'operate', actor: 'test' })).key;
    const read = (await keys.create({ name: 'viewer', scope: 'read', actor: 'test' })).key;
    await store().add(db, { userId: 'bob', eventId: randomUUID(), kind: 'LOGIN_ALERT', title: 'for bob', body: '…' });

    expect((await fetchAs('/users/bob/notifications/unread-count', { authorization: `Bearer ${operate}` })).body).toEqual({ userId: 'bob', unread: 1 });
    const tooLow = await fetchAs('/users/bob/notifications', { authorization: `Bearer ${read}` });
    expect(tooLow).toMatchObject({ status: 403, challenge: 'Bearer realm="tidings", error="insufficient_scope", scope="operate"' });
    expect(tooLow.body.message).toContain('"viewer" has "read"');
  });

  it('reports health, and 404 for unknown paths', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await get('/nope')).status).toBe(404);
  });

  it('refuses a message for another channel, and a malformed event id, without retries', async () => {
    const provider = new InAppProvider({ db });
    await expect(provider.send({ ...message('user-e', 'x'), channel: 'email' })).rejects.toMatchObject({ retriable: false });
    const bad = provider.send({ ...message('user-e', 'x'), eventId: 'not-a-uuid' });
    await expect(bad).rejects.toBeInstanceOf(ProviderError);
    await expect(bad).rejects.toMatchObject({ retriable: false, code: 'PROVIDER_REJECTED' });
  });
});
