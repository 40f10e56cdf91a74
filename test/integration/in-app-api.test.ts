import { randomUUID } from 'node:crypto';
import { startApiServer, type ApiServer } from '../../src/api/server';
import type { Db } from '../../src/db/database';
import { ProviderError } from '../../src/errors';
import { InAppProvider } from '../../src/in-app/in-app-provider';
import { InAppStore, type InAppNotification } from '../../src/in-app/in-app-store';
import { LegalRecords } from '../../src/legal/legal-records';
import type { OutboundMessage } from '../../src/notifications/channels/channel';
import { createTestDatabase } from '../helpers/test-database';

type Json = Record<string, unknown>;

describe('in-app notifications and legal records over the HTTP API', () => {
  let db: Db;
  let dispose: (() => Promise<void>) | undefined;
  let api: ApiServer;
  const store = (): InAppStore => new InAppStore(db);

  beforeAll(async () => {
    ({ db, dispose } = await createTestDatabase());
    api = await startApiServer({ db, port: 0 });
  });

  afterAll(async () => {
    await api?.close();
    await dispose?.();
  });

  const get = async (path: string): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${api.url}${path}`);
    return { status: response.status, body: (await response.json()) as Json };
  };
  const post = async (path: string, body: unknown, raw = false): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${api.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ? String(body) : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json };
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
    const cases: Array<[Promise<{ status: number; body: Json }>, string]> = [
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

  it('serves legal records by payment and by user, each with its hash verified', async () => {
    const legal = new LegalRecords(db);
    const { record } = await legal.append(db, { kind: 'receipt', eventId: randomUUID(), paymentId: 'pay_http', userId: 'user-legal', document: { amount: { amount_minor: 1200, currency: 'EUR' } } });

    const byPayment = await get('/legal/payments/pay_http');
    expect(byPayment.status).toBe(200);
    expect(byPayment.body.records).toEqual([expect.objectContaining({ id: record.id, kind: 'receipt', contentHash: record.contentHash, verified: true })]);
    expect((await get('/legal/users/user-legal')).body.records).toEqual([expect.objectContaining({ id: record.id, paymentId: 'pay_http' })]);
    expect((await get('/legal/payments/pay_unknown')).status).toBe(404);
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
