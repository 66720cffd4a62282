// Node page: uPlot charts per range (server-downsampled, sized to their box), a live cause
// line, facts and events, and the command console: checks with the contract's bounds, a
// confirmation with the values, the node's answer in words.
import { boot, t, clock, hm, duration, num, mbps, Liveness, liveSocket } from './common.js';
import uPlot from './vendor/uplot/uPlot.esm.js';

const PALETTE = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828'];
const plots = [];
const tz = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Asia/Jakarta');
const hhmm = uPlot.fmtDate('{HH}:{mm}');
const ddhh = uPlot.fmtDate('{DD}-{MM} {HH}:{mm}');
const liveness = new Liveness(document.getElementById('live'));
let range = '1h';
// 24-hour WIB labels (the NOC's clock), with the date once the span exceeds a day.
const timeAxis = (span) => (u, splits) => splits.map((s) => (span[1] - span[0] > 86400 ? ddhh : hhmm)(tz(s)));
const numAxis = (u, splits) => splits.map((v) => num(v));
const plotWidth = (box) => Math.max(160, Math.floor(box.clientWidth || 320));

function chart(id, t0, series, span) {
  const box = document.getElementById(id);
  box.replaceChildren();
  const hasData = series.some((s) => s.values.some((v) => v != null));
  box.dataset.points = String(hasData ? t0.length : 0);
  if (!hasData) { box.textContent = t('chart.no_data'); box.classList.add('empty'); return; }
  box.classList.remove('empty');
  const opts = {
    width: plotWidth(box), height: 200, tzDate: tz,
    scales: { x: { time: true, range: () => span } },
    series: [{ label: t('chart.time') }, ...series.map((s, i) => ({ label: s.label, stroke: s.colour ?? PALETTE[i % 5],
      width: 1.5, dash: s.dash, spanGaps: false, points: { show: t0.length < 60 } }))],
    axes: [{ values: timeAxis(span), space: 70 }, { size: 50, values: numAxis }],
  };
  const p = new uPlot(opts, [t0, ...series.map((s) => s.values)], box);
  p.box = box;
  plots.push(p);
}

// charts follow their box (phone rotation, window size): the newest data stays on screen
const resize = new ResizeObserver(() => { for (const p of plots) p.setSize({ width: plotWidth(p.box), height: 200 }); });
resize.observe(document.querySelector('.charts'));

async function load(r) {
  range = r;
  for (const b of document.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === r));
  const resp = await fetch(`/noc/api/nodes/${encodeURIComponent(boot.node)}/series?range=${r}`,
    { credentials: 'same-origin' });
  if (!resp.ok || r !== range) return;
  const d = await resp.json();
  while (plots.length) plots.pop().destroy();
  const span = [d.from_s, d.to_s];
  chart('chart-rtt', d.t, d.uplinks.map((u) => ({ label: u, values: d.rtt[u] })), span);
  chart('chart-loss', d.t, d.uplinks.map((u) => ({ label: u, values: d.loss[u] })), span);
  chart('chart-users', d.t, [{ label: t('col.users'), values: d.users }], span);
  // series.py sends Mbit/s (the NOC's one unit)
  chart('chart-throughput', d.t, [
    { label: t('chart.rx'), values: d.rx }, { label: t('chart.tx'), values: d.tx },
    { label: t('chart.limit_down'), values: d.shape_down, colour: '#c62828', dash: [6, 4] },
    { label: t('chart.limit_up'), values: d.shape_up, colour: '#6a1b9a', dash: [2, 4] }], span);
  document.querySelector('.charts').dataset.loaded = r;
  performance.mark(`noc-charts-${r}`);  // bench/dashboard.py: navigation start -> charts
}

for (const b of document.querySelectorAll('[data-range]')) b.addEventListener('click', () => load(b.dataset.range));
load('1h');
// the short range keeps its newest point live
setInterval(() => { if (range === '1h' && liveness.level() === 'on') load('1h'); }, 30000);

// ---------------------------------------------------------------- live cause, facts, events
let cause = boot.cause;
function paintDuration() {
  const span = document.querySelector('#cause .dur');
  span.textContent = cause.since ? `· ${duration(liveness.now() - cause.since)}` : '';
}

function paintCause(c) {
  cause = c;
  const p = document.getElementById('cause');
  p.className = `cause state-${c.state}`;
  p.dataset.state = c.state;
  p.dataset.since = c.since ?? '';
  const b = p.querySelector('.badge');
  b.className = `badge state-${c.state}`;
  b.textContent = c.label;
  document.getElementById('cause-text').textContent = c.text;
  paintDuration();
}

function paintEvents(rows) {
  const tbody = document.querySelector('#events tbody');
  tbody.replaceChildren(...rows.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.kind = e.raw_kind;
    tr.dataset.ts = String(e.ts_ms);
    const sev = Object.assign(document.createElement('span'), { className: `sev sev-${e.severity}`, textContent: e.sev });
    const cells = [e.when, sev, e.kind, e.text, e.actor].map((x) => { const td = document.createElement('td'); td.append(x); return td; });
    cells[4].className = 'actor';
    tr.append(...cells);
    return tr;
  }));
  document.getElementById('no-events').hidden = rows.length > 0;
  document.getElementById('events').hidden = rows.length === 0;
}

let busy = false, lastRefresh = 0;
async function refresh() {
  if (busy) return;
  busy = true;
  lastRefresh = Date.now();
  try {
    const resp = await fetch(`/noc/api/nodes/${encodeURIComponent(boot.node)}/cause`, { credentials: 'same-origin' });
    if (!resp.ok) return;
    const c = await resp.json();
    paintCause(c);
    for (const [k, v] of Object.entries(c.facts)) {
      const dd = document.getElementById(`fact-${k}`);
      if (dd) dd.textContent = v;
    }
    paintEvents(c.events);
    document.body.dataset.refreshed = String(lastRefresh);
  } finally { busy = false; }
}

let shown = JSON.stringify(boot.view);
liveSocket(liveness, (msg) => {
  if (msg.type === 'beat') return;
  const mine = (msg.type === 'snapshot' ? msg.nodes : msg.changed).find((v) => v.node === boot.node);
  if (!mine) return;
  const now = JSON.stringify(mine);
  if (now === shown) return;
  const stateChanged = JSON.parse(shown).state !== mine.state;
  shown = now;
  if (stateChanged || Date.now() - lastRefresh > 3000) refresh();
});
setInterval(paintDuration, 1000);
paintDuration();

// ---------------------------------------------------------------- the command console
const form = document.getElementById('cmd-form');

// Indonesian number input: "2,5" and "1.000" (thousands) as well as "2.5"
function parseNumber(raw) {
  let s = raw.replace(/\s/g, '');
  if (/^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$/.test(s)) s = s.replace(/\./g, '').replace(',', '.');
  else s = s.replace(',', '.');
  return /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(s) ? Number(s) : NaN;
}

// One input checked against the contract's bounds (in the shown unit); never a silent 0.
function check(input) {
  const field = input.dataset.label, raw = input.value.trim();
  if (!raw) return { error: t('cmd.err.empty', { field }) };
  const x = parseNumber(raw);
  if (Number.isNaN(x)) return { error: t('cmd.err.text', { field, value: raw }) };
  const min = Number(input.dataset.min), max = Number(input.dataset.max), scale = Number(input.dataset.scale);
  if (x < min) return { error: t('cmd.err.low', { field, min: num(min) }) };
  if (x > max) return { error: t('cmd.err.high', { field, max: num(max) }) };
  return { value: x, proto: scale === 1000 ? Math.round(x * scale) : x * scale };
}

if (form) {
  const confirmBox = document.getElementById('cmd-confirm');
  const result = document.getElementById('cmd-result');
  const errors = document.getElementById('cmd-error');
  let pending = null;
  const kindSel = document.getElementById('cmd-kind');
  const throttleOnly = () => { document.getElementById('throttle-fields').hidden = kindSel.value !== 'set_throttle'; };
  kindSel.addEventListener('change', throttleOnly);
  throttleOnly();
  const input = (name) => form.querySelector(`[name="${name}"]`);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const kind = kindSel.value;
    const names = kind === 'set_throttle' ? ['down_mbps', 'up_mbps', 'lease_min', 'ttl_s'] : ['ttl_s'];
    const got = {}, problems = [];
    for (const n of names) {
      const r = check(input(n));
      input(n).setAttribute('aria-invalid', String(Boolean(r.error)));
      if (r.error) problems.push(r.error); else got[n] = r;
    }
    confirmBox.hidden = true;
    pending = null;
    if (problems.length) {
      errors.replaceChildren(Object.assign(document.createElement('strong'), { textContent: t('cmd.err.title') }),
        ...problems.map((p) => Object.assign(document.createElement('div'), { textContent: p })));
      errors.hidden = false;
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    errors.hidden = true;
    const params = kind === 'set_throttle' ? { down_kbps: got.down_mbps.proto, up_kbps: got.up_mbps.proto,
      lease_s: got.lease_min.proto } : {};
    pending = { kind, params, ttl_s: got.ttl_s.proto };
    document.getElementById('cmd-question').textContent = kind === 'set_throttle'
      ? t('cmd.confirm_throttle', { node: boot.node, down: mbps(params.down_kbps), up: mbps(params.up_kbps),
        lease: num(got.lease_min.value), until: hm(Date.now() + params.lease_s * 1000) })
      : t('cmd.confirm', { kind: t(`cmd.${kind}`), node: boot.node });
    confirmBox.hidden = false;
    document.getElementById('cmd-yes').focus();
  });
  document.getElementById('cmd-no').addEventListener('click', () => { confirmBox.hidden = true; pending = null; });
  document.getElementById('cmd-yes').addEventListener('click', async () => {
    confirmBox.hidden = true;
    if (!pending) return;
    const sent = pending;
    pending = null;
    delete result.dataset.state;
    const resp = await fetch(`/api/v1/nodes/${encodeURIComponent(boot.node)}/commands`, {
      method: 'POST', credentials: 'same-origin', body: JSON.stringify(sent),
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf } });
    let body = {};
    try { body = await resp.json(); } catch { body = { error: resp.statusText }; }
    result.dataset.status = String(resp.status);
    if (!resp.ok) { result.textContent = t('cmd.failed', { status: resp.status, detail: body.error ?? '' }); return; }
    result.textContent = t('cmd.sent');
    if (body.cmd_id) follow(body.cmd_id, sent);
  });

  const words = (c, sent) => {
    const st = c.stages.find((s) => s.stage === c.state);
    const at = clock(st?.ts_ms);
    if (c.state === 'applied') {
      const lease = sent.params.lease_s;
      return lease && st ? t('cmd.st.applied_until', { t: at, until: hm(st.ts_ms + lease * 1000) }) : t('cmd.st.applied', { t: at });
    }
    if (c.state === 'accepted') return t('cmd.st.accepted', { t: at });
    if (c.state === 'rejected') return t('cmd.st.rejected', { t: at, why: st?.code || '?' });
    if (['sent', 'expired', 'superseded'].includes(c.state)) return t(`cmd.st.${c.state}`);
    return t('cmd.st.unknown');
  };

  // Follow the command's ack stages (accepted, applied, rejected, expired, superseded).
  async function follow(cmdId, sent) {
    for (let i = 0; i < 60; i += 1) {
      await new Promise((r) => setTimeout(r, 1000));
      const r = await fetch(`/api/v1/commands/${encodeURIComponent(cmdId)}`, { credentials: 'same-origin' });
      if (!r.ok) return;
      const c = await r.json();
      result.dataset.state = c.state;
      result.textContent = words(c, sent);
      if (['applied', 'rejected', 'expired', 'superseded'].includes(c.state)) {
        // the node's event and next sample follow the ack within a few seconds
        for (const ms of [0, 3000, 8000, 15000]) setTimeout(refresh, ms);
        if (range === '1h') load('1h');
        return;
      }
    }
    result.textContent = t('cmd.st.timeout');
  }
}
