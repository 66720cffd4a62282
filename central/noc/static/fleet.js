// Fleet page: tiles, map of sites, sortable/filterable node table, live over a WebSocket.
import { boot, t, duration } from './common.js';

const RANK = ['offline', 'unknown', 'backup', 'degraded', 'throttled', 'unregistered', 'ok'];
const COLOURS = { offline: '#c62828', unknown: '#757575', backup: '#ef6c00', degraded: '#f9a825',
  throttled: '#1565c0', unregistered: '#6a1b9a', ok: '#2e7d32' };
const nodes = new Map();
let sortKey = 'state', sortDir = 1, clockSkew = 0, map = null;
const markers = new Map();
// Leaflet is loaded on its own (dynamic import): if it fails (a wheel without the vendored
// files, a blocked request) the tiles and the node table still work and the map box says so.
let L = null;
let lastSites = [];

function since(v) {
  if (!v.since) return '—';
  const d = duration(Date.now() + clockSkew - v.since);
  return v.online ? t('online_for', { d }) : t('offline_for', { d });
}

function cmp(a, b) {
  let x = a[sortKey], y = b[sortKey];
  if (sortKey === 'state') { x = RANK.indexOf(x); y = RANK.indexOf(y); }
  if (x == null && y == null) return a.node < b.node ? -1 : 1;
  if (x == null) return 1;
  if (y == null) return -1;
  if (x < y) return -sortDir;
  if (x > y) return sortDir;
  return a.node < b.node ? -1 : 1;
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const h = (x) => String(x ?? '—').replace(/[&<>"']/g, (c) => ESC[c]);
let sinceCells = [];

function row(v) {
  const role = v.role ? t(`role.${v.role}`) : '—';
  const thr = v.thr_down ? `${v.thr_down}/${v.thr_up ?? '—'}` : '—';
  return `<tr data-node="${h(v.node)}" data-state="${h(v.state)}" class="state-${h(v.state)}">` +
    `<td><a href="/noc/nodes/${encodeURIComponent(v.node)}">${h(v.node)}</a></td>` +
    `<td>${h(v.name || v.site)}</td><td>${h(role)}</td>` +
    `<td><span class="badge state-${h(v.state)}">${h(t(`state.${v.state}`))}</span></td>` +
    `<td><span class="since">${h(since(v))}</span></td><td>${h(v.uplink)}</td>` +
    `<td>${h(v.users)}</td><td>${h(v.rtt)}</td><td>${h(v.loss)}</td><td>${h(thr)}</td></tr>`;
}

function visible(v) {
  const q = document.getElementById('filter').value.trim().toLowerCase();
  const st = document.getElementById('state-filter').value;
  return (!st || v.state === st) &&
    (!q || `${v.node} ${v.site} ${v.name} ${v.uplink ?? ''}`.toLowerCase().includes(q));
}

// A changed node can be redrawn in place when its sort value and filter match are unchanged
// (most diffs: users, RTT, loss); otherwise the table is rebuilt.
function patchable(old, v) {
  return old && old[sortKey] === v[sortKey] && visible(old) === visible(v);
}

function patchRows(changed) {
  const tbody = document.querySelector('#nodes tbody');
  const tpl = document.createElement('tbody');
  for (const v of changed) {
    const tr = tbody.querySelector(`tr[data-node="${CSS.escape(v.node)}"]`);
    if (!tr) continue;
    tpl.innerHTML = row(v);
    tr.replaceWith(tpl.firstElementChild);
  }
  const spans = tbody.querySelectorAll('.since');
  const list = [...tbody.rows].map((tr) => nodes.get(tr.dataset.node));
  sinceCells = list.map((v, i) => [spans[i], v]);
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
  tbody.innerHTML = list.map(row).join('');
  const spans = tbody.querySelectorAll('.since');
  sinceCells = list.map((v, i) => [spans[i], v]);
  document.getElementById('count').textContent = `${list.length} / ${nodes.size}`;
  for (const th of document.querySelectorAll('#nodes th')) {
    th.setAttribute('aria-sort', th.dataset.key === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

function tiles(tl) {
  for (const k of ['online', 'offline', 'backup', 'throttled', 'users', 'alerts']) {
    document.querySelector(`#tile-${k} .v`).textContent = tl[k];
  }
  const hint = document.getElementById('tile-alerts-hint');
  hint.textContent = t('tile.alerts_hint', { gaps: tl.gaps, unreg: tl.unregistered, off: tl.offline });
  if (tl.incidents) incidentTile(tl.incidents);  // incidents (issue 16)
}

// --- incidents (issue 16): the alerts tile counts the alert engine's active incidents ---
function incidentTile(counts) {
  document.querySelector('#tile-alerts .v').textContent = counts.active;
  document.getElementById('tile-alerts-hint').textContent =
    t('incidents.tile_hint', { open: counts.open, maint: counts.maintenance });
}
// --- end incidents ---

function drawSites(sites) {
  lastSites = sites;
  if (!map || !L) return;
  const seen = new Set();
  for (const s of sites) {
    seen.add(s.site);
    // Leaflet inserts a string tooltip as HTML: every text in it is escaped (site names come
    // from the sites file, issue 12)
    const label = h(`${s.name}: ${t(`state.${s.state}`)} · ${s.nodes.length} node · ${s.users} ${t('col.users')}`);
    let m = markers.get(s.site);
    if (!m) {
      m = L.circleMarker([s.lat, s.lon], { radius: 9, weight: 2, fillOpacity: 0.85 }).addTo(map);
      m.on('click', () => { document.getElementById('filter').value = s.site; renderNow(); });
      markers.set(s.site, m);
    }
    m.setStyle({ color: '#222', fillColor: COLOURS[s.state] });
    m.unbindTooltip().bindTooltip(label);
    m.getElement()?.setAttribute('data-site', s.site);
    m.getElement()?.setAttribute('data-state', s.state);
  }
  for (const [site, m] of markers) if (!seen.has(site)) { m.remove(); markers.delete(site); }
}

function initMap(sites) {
  const box = document.getElementById('map');
  map = L.map(box, { attributionControl: Boolean(boot.tile_url), zoomSnap: 0.25 });
  if (boot.tile_url) {
    L.tileLayer(boot.tile_url, { maxZoom: 19, attribution: '© OpenStreetMap' }).addTo(map);
  } else {
    box.classList.add('blank');
  }
  const pts = sites.map((s) => [s.lat, s.lon]);
  if (pts.length) map.fitBounds(pts, { padding: [24, 24], maxZoom: 15 });
  else map.setView([-2.54, 112.95], 13);
  drawSites(sites);
}

async function loadMap() {
  try {
    L = await import('./vendor/leaflet/leaflet-src.esm.js');
  } catch (err) {
    const box = document.getElementById('map');
    box.classList.add('blank', 'unavailable');
    box.textContent = t('map.unavailable');
    console.warn('map library unavailable:', err);
    return;
  }
  initMap(lastSites);
  performance.mark('noc-map');
}

function apply(snap) {
  clockSkew = snap.now - Date.now();
  tiles(snap.tiles);
  drawSites(snap.sites);
  render();
}

function connect(attempt = 0) {
  const live = document.getElementById('live');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/noc/ws`);
  ws.onopen = () => { attempt = 0; live.textContent = t('live.connected'); live.className = 'live on'; };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
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
    clockSkew = msg.now - Date.now();
    tiles(msg.tiles);
    drawSites(msg.sites);
    if (inPlace) patchRows(msg.changed); else render();
  };
  ws.onclose = (ev) => {
    live.textContent = t('live.lost'); live.className = 'live off';
    if (ev.code === 4401) { location.href = '/noc/login'; return; }
    setTimeout(() => connect(attempt + 1), Math.min(10000, 500 * 2 ** attempt));
  };
}

for (const v of boot.fleet.nodes) nodes.set(v.node, v);
const noCoords = boot.fleet.no_coords;
if (noCoords) document.getElementById('no-coords').textContent = t('map.no_coords', { n: noCoords });
performance.mark('noc-script');
apply(boot.fleet);
renderNow();
performance.mark('noc-rows');  // bench/dashboard.py reads this: navigation start -> rows drawn
for (const th of document.querySelectorAll('#nodes th')) {
  const go = () => { sortDir = sortKey === th.dataset.key ? -sortDir : 1; sortKey = th.dataset.key; renderNow(); };
  th.addEventListener('click', go);
  th.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') go(); });
}
document.getElementById('filter').addEventListener('input', renderNow);
document.getElementById('state-filter').addEventListener('change', renderNow);
setInterval(() => { for (const [span, v] of sinceCells) span.textContent = since(v); }, 1000);
connect();
loadMap();
