// The operations dashboard: plain DOM, no framework. Every value from the server is put in
// the page as text (textContent), never as HTML. The API key stays in this tab's sessionStorage.
'use strict';

const KEY = 'tidings.apiKey';
const REFRESH_MS = 5000;
const $ = (selector) => document.querySelector(selector);
let timer;

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const body = response.headers.get('content-type')?.includes('json') ? await response.json() : await response.text();
  if (response.status === 401) {
    logout('That API key was refused (unknown or revoked).');
    throw new Error('unauthorized');
  }
  if (!response.ok) throw new Error(typeof body === 'object' && body && body.error ? body.error : `${path}: HTTP ${response.status}`);
  return body;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  return td;
}

function fill(table, rows, toCells, empty = 'nothing here') {
  const body = $(`${table} tbody`);
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(empty, 'muted');
    td.colSpan = $(`${table} thead tr`).children.length;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement('tr');
    const cells = toCells(row, tr);
    tr.append(...cells);
    body.append(tr);
  }
}

const time = (value) => (value ? new Date(value).toLocaleString() : '');

function button(label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

async function loadLag() {
  const { groups, depths } = await api('/admin/lag');
  const rows = groups.flatMap((g) => g.partitions.map((p) => ({ group: g.group, ...p })));
  fill('#lag', rows, (r, tr) => {
    if (r.lag > 0) tr.className = 'lagging';
    return [cell(r.group), cell(r.topic), cell(r.partition, 'num'), cell(r.committed ?? '—', 'num'), cell(r.end, 'num'), cell(r.lag, 'num lag')];
  }, 'no consumer groups');
  fill('#depths', depths, (d) => [cell(d.topic), cell(d.kind), cell(d.depth, 'num')], 'no retry or DLQ topics');
}

async function loadThroughput() {
  const { groups } = await api('/admin/throughput');
  fill('#throughput', groups, (g) => [cell(g.group), cell(g.lastMinute, 'num'), cell(g.last15Minutes, 'num')], 'nothing processed in the last 15 minutes');
}

async function loadDeadLetters() {
  const { deadLetters } = await api('/admin/dlq?limit=50');
  fill('#dlq', deadLetters, (d) => {
    const actions = document.createElement('td');
    actions.append(button('Inspect', () => inspect(d.id)));
    if (d.state === 'parked') {
      actions.append(button('Redrive', () => redrive(d.id)));
      actions.append(button('Discard', () => discard(d.id)));
    }
    return [cell(d.id), cell(time(d.deadLetteredAt)), cell(d.group), cell(d.eventType), cell(d.userId), cell(`${d.errorClass}: ${d.errorMessage}`, 'wrap'), cell(d.state, `status-${d.state}`), actions];
  }, 'no dead letters');
}

async function loadDeliveries() {
  const { deliveries } = await api('/admin/deliveries?limit=30');
  fill('#deliveries', deliveries, (d) => [cell(time(d.at)), cell(d.userId), cell(d.eventType), cell(d.channel), cell(d.status, `status-${d.status}`), cell(d.detail, 'wrap')], 'no deliveries yet');
}

async function loadReplays() {
  const { jobs } = await api('/admin/replays');
  fill('#replays', jobs, (j) => [cell(j.id), cell(j.mode), cell(j.status), cell(j.total ? `${j.done}/${j.total}` : j.done, 'num'), cell(time(j.startedAt)), cell(j.actor)], 'no replay jobs');
}

const PANELS = [loadLag, loadThroughput, loadDeadLetters, loadDeliveries, loadReplays];

async function refresh() {
  clearTimeout(timer);
  const results = await Promise.allSettled(PANELS.map((load) => load()));
  const failed = results.filter((r) => r.status === 'rejected' && r.reason.message !== 'unauthorized').map((r) => r.reason.message);
  $('#error').textContent = failed.join(' · ');
  $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  if (sessionStorage.getItem(KEY)) timer = setTimeout(refresh, REFRESH_MS);
}

async function inspect(id) {
  const record = await api(`/admin/dlq/${encodeURIComponent(id)}`).catch((error) => ({ error: error.message }));
  $('#inspect-id').textContent = id;
  $('#inspect-body').textContent = JSON.stringify(record, null, 2);
  $('#inspect').hidden = false;
}

async function redrive(id) {
  try {
    await api(`/admin/dlq/${encodeURIComponent(id)}/redrive`, { method: 'POST', body: '{}' });
  } catch (error) {
    $('#error').textContent = `redrive ${id}: ${error.message}`;
  }
  await refresh();
}

async function discard(id) {
  const reason = window.prompt(`Why discard dead letter ${id}? (recorded)`);
  if (!reason) return;
  try {
    await api(`/admin/dlq/${encodeURIComponent(id)}/discard`, { method: 'POST', body: JSON.stringify({ reason }) });
  } catch (error) {
    $('#error').textContent = `discard ${id}: ${error.message}`;
  }
  await refresh();
}

function logout(message = '') {
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  $('#app').hidden = true;
  $('#logout').hidden = true;
  $('#login').hidden = false;
  $('#who').textContent = '';
  $('#login-error').textContent = message;
}

async function start() {
  try {
    const who = await api('/admin/whoami');
    $('#who').textContent = `${who.name} (${who.scope})`;
  } catch {
    return;
  }
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#logout').hidden = false;
  await refresh();
}

$('#login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('#api-key').value.trim());
  $('#api-key').value = '';
  void start();
});
$('#logout').addEventListener('click', () => logout());
$('#inspect-close').addEventListener('click', () => ($('#inspect').hidden = true));
if (sessionStorage.getItem(KEY)) void start();
