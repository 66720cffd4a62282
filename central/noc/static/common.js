// Shared helpers of the NOC pages: boot data, translations, WIB time, durations, numbers and
// the live indicator (the age of the newest update received over the WebSocket).
export const boot = JSON.parse(document.getElementById('boot').textContent);
export const lang = boot.lang;
const extra = boot.tx ?? {};

export function t(key, vars = {}) {
  const text = boot.t[key] ?? extra[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const locale = lang === 'id' ? 'id-ID' : 'en-GB';
const wibFmt = new Intl.DateTimeFormat(locale, {
  timeZone: 'Asia/Jakarta', day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit',
  minute: '2-digit', hour12: false,
});
const clockFmt = new Intl.DateTimeFormat(locale, {
  timeZone: 'Asia/Jakarta', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
const hmFmt = new Intl.DateTimeFormat(locale, {
  timeZone: 'Asia/Jakarta', hour: '2-digit', minute: '2-digit', hour12: false,
});
// one date format in the NOC: 07 Des 2026 10:42 WIB (as the server's i18n.wib, month names
// from the catalogue's fmt.months)
const part = (parts, type) => parts.find((p) => p.type === type)?.value ?? '';

export function wib(ms) {
  if (ms == null) return '—';
  const p = wibFmt.formatToParts(new Date(ms));
  const month = t('fmt.months').split(' ')[Number(part(p, 'month')) - 1] ?? part(p, 'month');
  return `${part(p, 'day')} ${month} ${part(p, 'year')} ${part(p, 'hour')}:${part(p, 'minute')} WIB`;
}

// 01:52:07 WIB (seconds: what a node did just now)
export function clock(ms) {
  return ms == null ? '—' : `${clockFmt.format(new Date(ms)).replace(/\./g, ':')} WIB`;
}

// 02:52 WIB
export function hm(ms) {
  return ms == null ? '—' : `${hmFmt.format(new Date(ms)).replace(/\./g, ':')} WIB`;
}

export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  // Indonesian: hari, jam, menit, detik; English: d, h, min, s.
  const u = lang === 'id' ? [' hr', ' jam', ' mnt', ' dtk'] : ['d', 'h', 'min', 's'];
  if (d) return `${d}${u[0]} ${h}${u[1]}`;
  if (h) return `${h}${u[1]} ${m}${u[2]}`;
  if (m) return `${m}${u[2]} ${sec}${u[3]}`;
  return `${sec}${u[3]}`;
}

const numFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 3 });
export function num(x) {
  return x == null ? '—' : numFmt.format(x);
}

// kbit/s (the protocol's unit) as Mbit/s (the NOC's unit)
export function mbps(kbps) {
  return kbps == null ? '—' : `${num(kbps / 1000)} Mbit/s`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

export function badge(state) {
  return el('span', { class: `badge state-${state}`, text: t(`state.${state}`) });
}

// The live indicator: green while updates (diffs or the server's heartbeat every 2 s) keep
// coming, amber after FRESH_MS without any, red after STALE_MS; it says when the last came.
export const FRESH_MS = 5000;
export const STALE_MS = 12000;

export class Liveness {
  constructor(box) {
    this.box = box;
    this.lastLocal = null;   // Date.now() when the newest update arrived
    this.lastServer = null;  // central's clock in that update
    this.skew = 0;
    setInterval(() => this.paint(), 1000);
    this.paint();
  }

  seen(serverNow) {
    this.lastLocal = Date.now();
    this.lastServer = serverNow ?? this.lastLocal;
    this.skew = this.lastServer - this.lastLocal;
    this.paint();
  }

  level() {
    if (this.lastLocal == null) return 'wait';
    const age = Date.now() - this.lastLocal;
    return age < FRESH_MS ? 'on' : age < STALE_MS ? 'stale' : 'dead';
  }

  // "now" for durations: central's clock while live; frozen at the last update when not, so
  // nothing keeps counting on data that stopped coming
  now() {
    if (this.lastLocal == null) return Date.now();
    return this.level() === 'on' ? Date.now() + this.skew : this.lastServer;
  }

  paint() {
    if (!this.box) return;
    const lv = this.level();
    this.box.className = `live ${lv}`;
    this.box.dataset.level = lv;
    if (lv === 'wait') { this.box.textContent = t('live.wait'); return; }
    const vars = { t: clock(this.lastServer), d: duration(Date.now() - this.lastLocal) };
    this.box.textContent = t(lv === 'on' ? 'live.fresh' : lv === 'stale' ? 'live.stale' : 'live.dead', vars);
  }
}

// The NOC's WebSocket (snapshot, diffs, heartbeats), reconnecting with backoff; every message
// counts as an update for the live indicator.
export function liveSocket(liveness, onMessage) {
  const go = (attempt) => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/noc/ws`);
    ws.onopen = () => { attempt = 0; };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      liveness.seen(msg.now);
      onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ev.code === 4401) { location.href = '/noc/login'; return; }
      setTimeout(() => go(attempt + 1), Math.min(10000, 500 * 2 ** attempt));
    };
  };
  go(0);
}
