// Fleet page: tiles (filters), map of sites, sortable/filterable node table, live over a
// WebSocket. The table works without the map library (Leaflet is loaded on its own).
import { boot, t, duration, wib, num, Liveness, liveSocket } from './common.js';

const RANK = ['offline', 'unknown', 'backup', 'degraded', 'throttled', 'unregistered', 'ok'];
const COLOURS = { offline: '#c62828', unknown: '#757575', backup: '#ef6c00', degraded: '#f9a825',
  throttled: '#1565c0', unregistered: '#6a1b9a', ok: '#2e7d32' };
const TILES = ['online', 'offline', 'backup', 'degraded', 'throttled', 'unknown', 'users', 'alerts'];
const nodes = new Map();
let sortKey = 'state', sortDir = 1, map = null;
const markers = new Map();
// Leaflet is loaded on its own (dynamic import): if it fails (a wheel without the vendored
// files, a blocked request) the tiles and the node table still work and the map box says so.
let L = null;
let lastSites = [];
const liveness = new Liveness(document.getElementById('live'));
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const h = (x) => String(x ?? '—').replace(/[&<>"']/g, (c) => ESC[c]);
const LABELS = Object.fromEntries([...document.querySelectorAll('#nodes th')].map((th) => [th.dataset.key, th.textContent]));

// How long the current state has lasted (from the event that began it, or central's presence
// record); offline: the duration and when central recorded it.
function since(v, now) {
  if (!v.since) return { text: '—', title: '' };
  const d = duration(now - v.since);
  if (!v.online) return { text: t('since.offline', { d }), title: t('since.offline_event', { t: wib(v.since) }) };
  const title = v.since_ev ? t('since.event', { t: wib(v.since) }) : t('since.from', { t: wib(v.since) });
  return { text: v.state === 'ok' ? t('since.online', { d }) : t('since.state', { d }), title };
}

function sortValue(v, key) {
  if (key === 'state') return RANK.indexOf(v.state);
  if (key === 'since') return v.since == null ? null : -v.since;
  return v[key];
}

function cmp(a, b) {
  const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
  if (x == null && y == null) return a.node < b.node ? -1 : 1;
  if (x == null) return 1;
  if (y == null) return -1;
  if (x < y) return -sortDir;
  if (x > y) return sortDir;
  return a.node < b.node ? -1 : 1;
}

let sinceCells = [];

// An offline node's values are last known: greyed, with their age in the title and the row.
function cell(key, value, v, now) {
  const stale = !v.online && value != null;
  const age = stale && v.sample ? duration(now - v.sample) : '';
  const title = stale ? ` title="${h(t('stale.title', { d: age }))}"` : '';
  return `<td data-label="${h(LABELS[key])}"${stale ? ' class="stale"' : ''}${title}>${h(value)}</td>`;
}

function sinceHtml(v, now) {
  const s = since(v, now);
  const age = !v.online && v.sample ? `<small class="stale-age">${h(t('stale.age', { d: duration(now - v.sample) }))}</small>` : '';
  return `<span class="since" title="${h(s.title)}">${h(s.text)}</span>${age}`;
}

function row(v, now) {
  const role = v.role ? t(`role.${v.role}`) : '—';
  const thr = v.thr_down || v.thr_up ? `${num(v.thr_down == null ? null : v.thr_down / 1000)}/${num(v.thr_up == null ? null : v.thr_up / 1000)}` : '—';
  const more = v.problems.filter((p) => p !== v.state).map((p) => `<span class="flag">${h(t(`state.${p}`))}</span>`).join(' ');
  return `<tr data-node="${h(v.node)}" data-state="${h(v.state)}" class="state-${h(v.state)}">` +
    `<td data-label="${h(LABELS.node)}"><a href="/noc/nodes/${encodeURIComponent(v.node)}">${h(v.node)}</a></td>` +
    `<td data-label="${h(LABELS.site)}">${h(v.name || v.site)}</td><td data-label="${h(LABELS.role)}">${h(role)}</td>` +
    `<td data-label="${h(LABELS.state)}"><span class="badge state-${h(v.state)}">${h(t(`state.${v.state}`))}</span> ${more}</td>` +
    `<td data-label="${h(LABELS.since)}" class="since-cell">${sinceHtml(v, now)}</td>` +
    cell('uplink', v.uplink, v, now) + cell('users', v.users, v, now) +
    cell('rtt', v.rtt == null ? null : num(v.rtt), v, now) + cell('loss', v.loss == null ? null : num(v.loss), v, now) +
    `<td data-label="${h(LABELS.thr_down)}">${h(thr)}</td></tr>`;
}

function matchesFilter(v, f) {
  if (!f) return true;
  if (f === 'problem') return v.problems.length > 0;
  if (f === 'online') return v.online;
  if (f === 'users') return v.online && (v.users ?? 0) > 0;
  if (f === 'ok') return v.state === 'ok';
  return v.problems.includes(f);
}

// search over node, site id and name, state and every problem (both languages' words) and uplink
function visible(v) {
  const q = document.getElementById('filter').value.trim().toLowerCase();
  const f = document.getElementById('state-filter').value;
  if (!matchesFilter(v, f)) return false;
  if (!q) return true;
  const words = [v.node, v.site, v.name, v.uplink ?? '', v.state, t(`state.${v.state}`),
    ...v.problems, ...v.problems.map((p) => t(`state.${p}`))];
  return words.join(' ').toLowerCase().includes(q);
}

// A changed node can be redrawn in place when its sort value and filter match are unchanged
// (most diffs: users, RTT, loss); otherwise the table is rebuilt.
function patchable(old, v) {
  return old && sortValue(old, sortKey) === sortValue(v, sortKey) && visible(old) === visible(v);
}

function collectSince(tbody) {
  sinceCells = [...tbody.rows].map((tr) => [tr.querySelector('.since-cell'), nodes.get(tr.dataset.node)]);
}

function patchRows(changed) {
  const tbody = document.querySelector('#nodes tbody');
  const tpl = document.createElement('tbody');
  const now = liveness.now();
  for (const v of changed) {
    const tr = tbody.querySelector(`tr[data-node="${CSS.escape(v.node)}"]`);
    if (!tr) continue;
    tpl.innerHTML = row(v, now);
    tr.replaceWith(tpl.firstElementChild);
  }
  collectSince(tbody);
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; renderNow(); });
}

function renderNow() {
  const list = [...nodes.values()].filter(visible);
  list.sort(cmp);
  const tbody = document.querySelector('#nodes tbody');
  const now = liveness.now();
  tbody.innerHTML = list.map((v) => row(v, now)).join('');
  collectSince(tbody);
  document.getElementById('count').textContent = `${list.length} / ${nodes.size}`;
  for (const th of document.querySelectorAll('#nodes th')) {
    th.setAttribute('aria-sort', th.dataset.key === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
  }
  const f = document.getElementById('state-filter').value;
  for (const b of document.querySelectorAll('.tile[data-filter]')) b.setAttribute('aria-pressed', String(Boolean(f) && b.dataset.filter === f));
}

function tiles(tl) {
  for (const k of TILES) document.querySelector(`#tile-${k} .v`).textContent = tl[k];
  document.getElementById('tile-alerts-hint').textContent = t('tile.alerts_hint', { gaps: tl.gaps, unreg: tl.unregistered });
  if (tl.incidents) incidentTile(tl.incidents);  // incidents (issue 16)
}

// --- incidents (issue 16): a tile of the alert engine's open incidents, a link to /noc/incidents ---
function incidentTile(counts) {
  const tile = document.getElementById('tile-incidents');
  if (!tile) return;
  tile.querySelector('.v').textContent = counts.active;
  document.getElementById('tile-incidents-hint').textContent =
    t('incidents.tile_hint', { open: counts.open, maint: counts.maintenance });
}
// --- end incidents ---

const openNode = (node) => { location.href = `/noc/nodes/${encodeURIComponent(node)}`; };
const siteLabel = (s) => `${s.name}: ${t(`state.${s.state}`)} · ${t('map.nodes', { n: s.nodes.length })} · ${s.users} ${t('col.users')}`;

function drawSites(sites) {
  lastSites = sites;
  if (!map || !L) { drawSchematic(sites); return; }
  const seen = new Set();
  for (const s of sites) {
    seen.add(s.site);
    let m = markers.get(s.site);
    if (!m) {
      m = L.circleMarker([s.lat, s.lon], { radius: 9, weight: 2, fillOpacity: 0.9 }).addTo(map);
      markers.set(s.site, m);
    }
    m.off('click').on('click', () => openNode(s.worst));
    m.setStyle({ color: '#222', fillColor: COLOURS[s.state] });
    // Leaflet inserts a string tooltip as HTML: every text in it is escaped (site names come
    // from the sites file); without a base map the labels stay (a labelled schematic)
    const label = h(boot.tile_url ? siteLabel(s) : s.state === 'ok' ? s.name : `${s.name} · ${t(`state.${s.state}`)}`);
    if (m.getTooltip()) m.setTooltipContent(label);
    else m.bindTooltip(label, { permanent: !boot.tile_url, direction: 'right', className: 'site-label' });
    const e = m.getElement();
    if (e) { e.setAttribute('data-site', s.site); e.setAttribute('data-state', s.state); e.setAttribute('data-node', s.worst); }
  }
  for (const [site, m] of markers) if (!seen.has(site)) { m.remove(); markers.delete(site); }
}

// Without Leaflet: one labelled dot per site, north to south, each a link to its worst node
// (redrawn only when something shown changed, so a click never meets a moving target).
function drawSchematic(sites) {
  const box = document.getElementById('map');
  if (!box.classList.contains('unavailable')) return;
  let plane = box.querySelector('.plane');
  if (!plane) { plane = document.createElement('div'); plane.className = 'plane'; box.append(plane); }
  const html = [...sites].sort((x, y) => y.lat - x.lat || x.lon - y.lon).map((s) =>
    `<a class="dot state-${h(s.state)}" data-site="${h(s.site)}" data-state="${h(s.state)}" href="/noc/nodes/${encodeURIComponent(s.worst)}"` +
    ` title="${h(siteLabel(s))}"><i style="background:${COLOURS[s.state]}"></i>${h(s.name)}` +
    `${s.state === 'ok' ? '' : ` · ${h(t(`state.${s.state}`))}`}</a>`).join('');
  if (plane.dataset.html !== html) { plane.innerHTML = html; plane.dataset.html = html; }
}

function initMap(sites) {
  const box = document.getElementById('map');
  map = L.map(box, { attributionControl: Boolean(boot.tile_url), zoomSnap: 0.25 });
  if (boot.tile_url) {
    L.tileLayer(boot.tile_url, { maxZoom: 19, attribution: '© OpenStreetMap' }).addTo(map);
  } else {
    box.classList.add('schematic');
  }
  const pts = sites.map((s) => [s.lat, s.lon]);
  if (pts.length) map.fitBounds(pts, { padding: [40, 40], maxZoom: 15 });
  else map.setView([-2.54, 112.95], 13);
  drawSites(sites);
}

async function loadMap() {
  try {
    L = await import('./vendor/leaflet/leaflet-src.esm.js');
  } catch (err) {
    const box = document.getElementById('map');
    box.classList.add('blank', 'unavailable');
    box.replaceChildren(Object.assign(document.createElement('p'), { className: 'map-note', textContent: t('map.unavailable') }));
    console.warn('map library unavailable:', err);
    drawSchematic(lastSites);
    return;
  }
  initMap(lastSites);
  performance.mark('noc-map');
}

function apply(snap) {
  tiles(snap.tiles);
  drawSites(snap.sites);
  render();
}

function onMessage(msg) {
  if (msg.type === 'beat') return;
  if (msg.type === 'incidents') { incidentTile(msg.counts); return; }  // issue 16
  if (msg.type === 'snapshot') {
    nodes.clear();
    for (const v of msg.nodes) nodes.set(v.node, v);
    apply(msg);
    return;
  }
  const inPlace = !msg.removed.length && msg.changed.every((v) => patchable(nodes.get(v.node), v));
  for (const v of msg.changed) nodes.set(v.node, v);
  for (const k of msg.removed) nodes.delete(k);
  tiles(msg.tiles);
  drawSites(msg.sites);
  if (inPlace) patchRows(msg.changed); else render();
}

for (const v of boot.fleet.nodes) nodes.set(v.node, v);
lastSites = boot.fleet.sites;
const noCoords = boot.fleet.no_coords;
if (noCoords) document.getElementById('no-coords').textContent = t('map.no_coords', { n: noCoords });
if (!boot.tile_url) document.getElementById('no-coords').append(` ${t('map.schematic')}`);
performance.mark('noc-script');
apply(boot.fleet);
renderNow();
performance.mark('noc-rows');  // bench/dashboard.py reads this: navigation start -> rows drawn
for (const th of document.querySelectorAll('#nodes th')) {
  const go = () => { sortDir = sortKey === th.dataset.key ? -sortDir : 1; sortKey = th.dataset.key; renderNow(); };
  th.addEventListener('click', go);
  th.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') go(); });
}
const stateFilter = document.getElementById('state-filter');
for (const b of document.querySelectorAll('.tile[data-filter]')) {
  b.addEventListener('click', () => {
    stateFilter.value = stateFilter.value === b.dataset.filter ? '' : b.dataset.filter;
    renderNow();
    document.getElementById('nodes').scrollIntoView({ block: 'nearest' });
  });
}
document.getElementById('filter').addEventListener('input', renderNow);
stateFilter.addEventListener('change', renderNow);
setInterval(() => {
  const now = liveness.now();
  for (const [td, v] of sinceCells) if (td && v) td.innerHTML = sinceHtml(v, now);
}, 1000);
liveSocket(liveness, onMessage);
loadMap();
