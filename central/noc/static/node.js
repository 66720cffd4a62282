// Node page: uPlot charts per range (server-downsampled), command console with confirmation.
import { boot, t } from './common.js';
import uPlot from './vendor/uplot/uPlot.esm.js';

const PALETTE = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828'];
const plots = [];
const tz = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Asia/Jakarta');
const hhmm = uPlot.fmtDate('{HH}:{mm}');
const ddhh = uPlot.fmtDate('{DD}/{MM} {HH}:{mm}');
// 24-hour WIB labels (the NOC's clock), with the date once the span exceeds a day.
const timeAxis = (span) => (u, splits) => splits.map((s) => (span[1] - span[0] > 86400 ? ddhh : hhmm)(tz(s)));

function chart(id, t0, series, span) {
  const box = document.getElementById(id);
  box.replaceChildren();
  const hasData = series.some((s) => s.values.some((v) => v != null));
  box.dataset.points = String(hasData ? t0.length : 0);
  if (!hasData) { box.textContent = t('chart.no_data'); box.classList.add('empty'); return; }
  box.classList.remove('empty');
  const opts = {
    width: Math.max(300, box.clientWidth || 520), height: 200, tzDate: tz,
    scales: { x: { time: true, range: () => span } },
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.colour ?? PALETTE[i % 5],
      width: 1.5, dash: s.dash, spanGaps: false, points: { show: t0.length < 60 } }))],
    axes: [{ values: timeAxis(span), space: 60 }, { size: 50 }],
  };
  plots.push(new uPlot(opts, [t0, ...series.map((s) => s.values)], box));
}

async function load(range) {
  for (const b of document.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
  const resp = await fetch(`/noc/api/nodes/${encodeURIComponent(boot.node)}/series?range=${range}`,
    { credentials: 'same-origin' });
  if (!resp.ok) return;
  const d = await resp.json();
  while (plots.length) plots.pop().destroy();
  const span = [d.from_s, d.to_s];
  chart('chart-rtt', d.t, d.uplinks.map((u) => ({ label: u, values: d.rtt[u] })), span);
  chart('chart-loss', d.t, d.uplinks.map((u) => ({ label: u, values: d.loss[u] })), span);
  chart('chart-users', d.t, [{ label: t('col.users'), values: d.users }], span);
  chart('chart-throughput', d.t, [
    { label: 'rx', values: d.rx }, { label: 'tx', values: d.tx },
    { label: 'limit ↓', values: d.shape_down, colour: '#c62828', dash: [6, 4] },
    { label: 'limit ↑', values: d.shape_up, colour: '#6a1b9a', dash: [2, 4] }], span);
  document.querySelector('.charts').dataset.loaded = range;
  performance.mark(`noc-charts-${range}`);  // bench/dashboard.py: navigation start -> charts
}

for (const b of document.querySelectorAll('[data-range]')) b.addEventListener('click', () => load(b.dataset.range));
load('1h');

const form = document.getElementById('cmd-form');
if (form) {
  const confirmBox = document.getElementById('cmd-confirm');
  const result = document.getElementById('cmd-result');
  let pending = null;
  const kindSel = document.getElementById('cmd-kind');
  const throttleOnly = () => { document.getElementById('throttle-fields').hidden = kindSel.value !== 'set_throttle'; };
  kindSel.addEventListener('change', throttleOnly);
  throttleOnly();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const kind = f.get('kind');
    const params = kind === 'set_throttle'
      ? { down_kbps: Number(f.get('down_kbps')), up_kbps: Number(f.get('up_kbps')),
          lease_s: Number(f.get('lease_s')) } : {};
    pending = { kind, params, ttl_s: Number(f.get('ttl_s')) };
    document.getElementById('cmd-question').textContent =
      t('cmd.confirm', { kind: t(`cmd.${kind}`), node: boot.node });
    confirmBox.hidden = false;
    document.getElementById('cmd-yes').focus();
  });
  document.getElementById('cmd-no').addEventListener('click', () => { confirmBox.hidden = true; pending = null; });
  document.getElementById('cmd-yes').addEventListener('click', async () => {
    confirmBox.hidden = true;
    if (!pending) return;
    const body = JSON.stringify(pending);
    pending = null;
    const resp = await fetch(`/api/v1/nodes/${encodeURIComponent(boot.node)}/commands`, {
      method: 'POST', credentials: 'same-origin', body,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf } });
    let detail = '';
    try { const j = await resp.json(); detail = j.cmd_id ?? j.error ?? JSON.stringify(j); } catch { detail = resp.statusText; }
    result.dataset.status = String(resp.status);
    result.textContent = resp.ok ? t('cmd.sent', { detail }) : t('cmd.failed', { status: resp.status, detail });
    if (resp.ok && detail) follow(detail);
  });

  // Follow the command's ack stages (accepted, applied, rejected, expired, superseded).
  async function follow(cmdId) {
    for (let i = 0; i < 60; i += 1) {
      await new Promise((r) => setTimeout(r, 1000));
      const r = await fetch(`/api/v1/commands/${encodeURIComponent(cmdId)}`, { credentials: 'same-origin' });
      if (!r.ok) return;
      const c = await r.json();
      result.dataset.state = c.state;
      result.textContent = t('cmd.state', { cmd: cmdId, state: c.state });
      if (['applied', 'rejected', 'expired', 'superseded'].includes(c.state)) return;
    }
  }
}

// Live: when the fleet channel reports this node's state changed, refresh the root-cause line.
async function refreshCause() {
  const resp = await fetch(`/noc/api/nodes/${encodeURIComponent(boot.node)}/cause`, { credentials: 'same-origin' });
  if (!resp.ok) return;
  const c = await resp.json();
  const p = document.getElementById('cause');
  p.className = `cause state-${c.state}`;
  p.dataset.state = c.state;
  const b = document.createElement('span');
  b.className = `badge state-${c.state}`;
  b.textContent = c.label;
  p.replaceChildren(b, ` ${c.cause}`);
}

let shownState = boot.view.state;
function watch(attempt = 0) {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/noc/ws`);
  ws.onopen = () => { attempt = 0; };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    const mine = (msg.type === 'snapshot' ? msg.nodes : msg.changed).find((v) => v.node === boot.node);
    if (mine && mine.state !== shownState) { shownState = mine.state; refreshCause(); }
  };
  ws.onclose = (ev) => { if (ev.code !== 4401) setTimeout(() => watch(attempt + 1), Math.min(10000, 500 * 2 ** attempt)); };
}
watch();
