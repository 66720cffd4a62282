// Shared helpers of the NOC pages: boot data, translations, WIB time, durations.
export const boot = JSON.parse(document.getElementById('boot').textContent);
export const lang = boot.lang;

export function t(key, vars = {}) {
  const text = boot.t[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const wibFmt = new Intl.DateTimeFormat(lang === 'id' ? 'id-ID' : 'en-GB', {
  timeZone: 'Asia/Jakarta', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit',
  hour12: false,
});

export function wib(ms) {
  return ms == null ? '—' : `${wibFmt.format(new Date(ms))} WIB`;
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
