// Incidents page: tabs and filters, one card per incident (root cause, acknowledgement, member
// alerts, timeline), kept live over the NOC WebSocket (?feed=incidents); operators acknowledge
// with a note and edit maintenance windows through central's JSON API (session + CSRF token).
import { boot, t, wib, el, lang } from './common.js';

const incidents = new Map();  // id -> incident view (from the page, the API or the feed)
const cards = new Map();  // id -> {key, node}
const filters = { ...boot.filters };
const openDetails = new Set();
let windows = boot.windows;

function matches(inc) {
  const st = filters.state === 'active' ? inc.state !== 'resolved' : inc.state === filters.state;
  return st && (!filters.site || inc.site === filters.site) &&
    (!filters.severity || inc.severity === filters.severity) &&
    (!filters.node || inc.node === filters.node || inc.members.some((m) => m.node === filters.node));
}

const kind = (k) => t(`incidents.kind.${k}`);

function eventText(ev) {
  const d = ev.detail || {};
  const vars = { ...d, kind: d.kind ? kind(d.kind) : '', from: d.from ? t(`incidents.sev.${d.from}`) : '',
    to: d.to ? t(`incidents.sev.${d.to}`) : '', state: d.state ? t(`incidents.nstate.${d.state}`) : '' };
  let text = t(`incidents.ev.${ev.kind}`, vars);
  if (ev.kind === 'acknowledged' && d.note) text += `: “${d.note}”`;
  if ((ev.kind === 'opened' || ev.kind === 'member_added') && d.maintenance) text += ` (${t('incidents.in_maint')})`;
  return text;
}

function members(inc) {
  const head = el('tr', {}, ...['col.node', 'col.kind', 'col.severity', 'col.opened', 'col.cleared', 'col.flags']
    .map((k) => el('th', { text: t(`incidents.${k}`) })));
  const rows = inc.members.map((m) => {
    const flags = [m.suppressed ? t('incidents.suppressed') : '', m.in_maintenance ? t('incidents.in_maint') : '']
      .filter(Boolean).join(' · ');
    const node = el('a', { href: `/noc/nodes/${encodeURIComponent(m.node)}`, text: m.node });
    return el('tr', { 'data-alert': String(m.alert_id) }, el('td', {}, node), el('td', { text: kind(m.kind) }),
      el('td', { text: t(`incidents.sev.${m.severity}`) }), el('td', { text: wib(m.opened_ms) }),
      el('td', { text: m.resolved_ms ? wib(m.resolved_ms) : '—' }), el('td', { class: 'flags', text: flags }));
  });
  return el('table', { class: 'inc-members' }, el('thead', {}, head), el('tbody', {}, ...rows));
}

function ackForm(inc) {
  const note = el('input', { name: 'note', class: 'ack-note', maxlength: '2000', placeholder: t('incidents.ack_note'),
    'aria-label': t('incidents.ack_note') });
  const result = el('span', { class: 'ack-result', role: 'status' });
  const form = el('form', { class: 'ack-form row-form' }, note,
    el('button', { type: 'submit', class: 'ack-btn', text: t('incidents.ack') }), result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    result.textContent = '…';
    const resp = await fetch(`/api/v1/incidents/${inc.id}/ack`, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
      body: JSON.stringify({ note: note.value }) });
    const body = await resp.json().catch(() => ({}));
    if (resp.ok) { update([body]); return; }
    result.textContent = t('incidents.ack_failed', { err: body.error || resp.status });
    if (body.incident) update([body.incident]);
  });
  return form;
}

function card(inc) {
  const title = (inc.titles && inc.titles[lang]) || inc.key;
  const head = el('h3', {}, el('span', { class: `sevb sev-${inc.severity}`, text: t(`incidents.sev.${inc.severity}`) }), ' ',
    el('span', { class: `ist ist-${inc.state}`, text: t(`incidents.tab.${inc.state}`) }), ' ',
    el('span', { class: 'inc-id', text: `#${inc.id}` }), ' ', el('span', { class: 'inc-title', text: title }));
  let meta = t('incidents.meta', { site: inc.site, opened: wib(inc.opened_ms), n: inc.members.length });
  if (inc.resolved_ms) meta += ` · ${t('incidents.resolved_at', { when: wib(inc.resolved_ms) })}`;
  const box = el('article', { class: `incident isev-${inc.severity} st-${inc.state}`, id: `inc-${inc.id}`,
    'data-id': String(inc.id), 'data-state': inc.state }, head, el('p', { class: 'inc-meta muted', text: meta }));
  if (inc.acked_by) {
    const ack = el('p', { class: 'inc-ack', text: t('incidents.acked', { by: inc.acked_by, when: wib(inc.acked_ms) }) });
    if (inc.ack_note) ack.append(': ', el('q', { class: 'inc-note', text: inc.ack_note }));
    box.append(ack);
  }
  if (boot.operator && inc.state === 'open') box.append(ackForm(inc));
  const details = el('details', { class: 'inc-details' }, el('summary', { text: t('incidents.details') }),
    el('h4', { text: t('incidents.members') }), members(inc), el('h4', { text: t('incidents.timeline') }),
    el('ol', { class: 'inc-timeline' }, ...(inc.timeline || []).map((ev) =>
      el('li', { 'data-kind': ev.kind }, el('time', { text: wib(ev.at_ms) }), ' ', eventText(ev)))));
  details.open = openDetails.has(inc.id);
  details.addEventListener('toggle', () => { if (details.open) openDetails.add(inc.id); else openDetails.delete(inc.id); });
  box.append(details);
  return box;
}

// Cards are rebuilt only when their incident changed; a note being typed survives.
function render() {
  const box = document.getElementById('incidents');
  const list = [...incidents.values()].filter(matches).sort((a, b) => b.id - a.id);
  const focused = document.activeElement;
  const nodes = list.map((inc) => {
    const key = JSON.stringify(inc);
    const old = cards.get(inc.id);
    if (old && old.key === key) return old.node;
    const fresh = card(inc);
    const oldNote = old && old.node.querySelector('.ack-note');
    const newNote = fresh.querySelector('.ack-note');
    if (oldNote && newNote) newNote.value = oldNote.value;
    cards.set(inc.id, { key, node: fresh });
    return fresh;
  });
  const same = nodes.length === box.children.length && nodes.every((n, i) => box.children[i] === n);
  if (!same) box.replaceChildren(...nodes);
  if (focused && focused !== document.activeElement && document.contains(focused)) focused.focus();
  document.getElementById('inc-empty').hidden = list.length > 0;
}

function update(list) {
  for (const inc of list) incidents.set(inc.id, inc);
  render();
}

function setCounts(counts) {
  for (const s of ['open', 'acknowledged', 'maintenance']) {
    const n = document.querySelector(`#tab-${s} .n`);
    if (n) n.textContent = counts[s];
  }
}

async function reload() {
  const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  history.replaceState(null, '', `/noc/incidents?${q}`);
  const resp = await fetch(`/noc/api/incidents?${q}`, { credentials: 'same-origin' });
  if (!resp.ok) return;
  const body = await resp.json();
  setCounts(body.counts);
  update(body.incidents);
}

function connect(attempt = 0) {
  const live = document.getElementById('live');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/noc/ws?feed=incidents`);
  ws.onopen = () => { attempt = 0; live.textContent = t('live.connected'); live.className = 'live on'; };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type !== 'incidents') return;
    setCounts(msg.counts);
    update(msg.changed);
  };
  ws.onclose = (ev) => {
    live.textContent = t('live.lost'); live.className = 'live off';
    if (ev.code === 4401) { location.href = '/noc/login'; return; }
    setTimeout(() => connect(attempt + 1), Math.min(10000, 500 * 2 ** attempt));
  };
}

// ---- maintenance windows -------------------------------------------------------------------
const WIB_MS = 7 * 3600 * 1000;  // datetime-local inputs are read and written as WIB
const toInput = (ms) => new Date(ms + WIB_MS).toISOString().slice(0, 16);
const fromInput = (v) => Date.parse(`${v}:00Z`) - WIB_MS;

function drawWindows() {
  const tbody = document.querySelector('#maint-table tbody');
  const now = Date.now();
  tbody.replaceChildren(...windows.map((w) => {
    const scope = w.site ? t('maint.site') : t('maint.node');
    const running = w.start_ms <= now && now < w.end_ms ? ` (${t('maint.running')})` : '';
    const tr = el('tr', { 'data-window': String(w.id) }, el('td', { text: scope }), el('td', { text: w.site || w.node }),
      el('td', { text: wib(w.start_ms) + running }), el('td', { text: wib(w.end_ms) }), el('td', { text: w.note }),
      el('td', { text: w.created_by }));
    if (boot.operator) {
      const del = el('button', { type: 'button', class: 'maint-delete', text: t('maint.delete') });
      del.addEventListener('click', () => change(`/api/v1/maintenance/${w.id}`, 'DELETE', null, 'maint.deleted'));
      tr.append(el('td', {}, del));
    }
    return tr;
  }));
  document.getElementById('maint-empty').hidden = windows.length > 0;
}

async function change(url, method, body, okKey) {
  const result = document.getElementById('maint-result');
  const resp = await fetch(url, { method, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
    body: body ? JSON.stringify(body) : undefined });
  const answer = await resp.json().catch(() => ({}));
  if (result) result.textContent = resp.ok ? t(okKey) : t('maint.failed', { err: answer.error || resp.status });
  const list = await fetch('/api/v1/maintenance?current=1', { credentials: 'same-origin' });
  if (list.ok) { windows = (await list.json()).windows; drawWindows(); }
}

const form = document.getElementById('maint-form');
if (form) {
  const scope = document.getElementById('maint-scope');
  const pick = () => {
    document.getElementById('maint-site-label').hidden = scope.value !== 'site';
    document.getElementById('maint-node-label').hidden = scope.value !== 'node';
  };
  scope.addEventListener('change', pick);
  pick();
  const now = Date.now();
  document.getElementById('maint-start').value = toInput(now);
  document.getElementById('maint-end').value = toInput(now + 2 * 3600 * 1000);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const target = scope.value === 'site' ? { site: document.getElementById('maint-site').value }
      : { node: document.getElementById('maint-node').value };
    change('/api/v1/maintenance', 'POST', { ...target, note: document.getElementById('maint-note').value,
      start_ms: fromInput(document.getElementById('maint-start').value),
      end_ms: fromInput(document.getElementById('maint-end').value) }, 'maint.added');
  });
}

// ---- start ---------------------------------------------------------------------------------
for (const b of document.querySelectorAll('[role=tab]')) {
  b.addEventListener('click', () => {
    filters.state = b.dataset.state;
    for (const o of document.querySelectorAll('[role=tab]')) o.setAttribute('aria-selected', String(o === b));
    render();
    reload();
  });
}
for (const [id, key] of [['inc-site', 'site'], ['inc-severity', 'severity']]) {
  document.getElementById(id).addEventListener('change', (ev) => { filters[key] = ev.target.value || null; render(); reload(); });
}
update(boot.incidents);
drawWindows();
if (boot.engine) connect();
