// Budget page: the chosen site's daily p95 (bars) against its contract (dashed line).
import { boot, t } from './common.js';
import uPlot from './vendor/uplot/uPlot.esm.js';

const box = document.getElementById('chart-budget');
const pick = document.getElementById('budget-site');
const nf = new Intl.NumberFormat(boot.lang === 'id' ? 'id-ID' : 'en-GB', { maximumFractionDigits: 1 });
const months = t('fmt.months').split(' ');
let plot = null;

// '2026-12-07' -> '07 Des' (the NOC's date format without year and time)
const dayLabel = (d) => `${d.slice(8, 10)} ${months[Number(d.slice(5, 7)) - 1] ?? ''}`;

function draw() {
  if (plot) { plot.destroy(); plot = null; }
  const site = boot.chart[pick.value];
  const days = site ? site.days : [];
  box.dataset.points = String(days.length);
  if (!days.length) { box.textContent = t('chart.no_data'); box.classList.add('empty'); return; }
  box.textContent = '';
  box.classList.remove('empty');
  const x = days.map((_, i) => i);
  const cap = site.capacity_mbps;
  const top = Math.max(cap ?? 0, ...days.map((d) => d.p95_mbps)) * 1.1 || 1;
  const width = Math.max(280, box.clientWidth || 640);
  // one label per ~56 px so that day labels never run together on a phone
  const every = Math.max(1, Math.ceil(days.length / Math.max(1, Math.floor((width - 60) / 56))));
  plot = new uPlot({
    width, height: 240,
    scales: { x: { time: false, range: () => [-0.5, days.length - 0.5] }, y: { range: () => [0, top] } },
    axes: [
      { splits: () => x.filter((i) => i % every === 0), values: (_, ticks) => ticks.map((i) => (days[i] ? dayLabel(days[i].day) : '')) },
      { size: 56, values: (_, ticks) => ticks.map((v) => nf.format(v)) }],
    series: [{ label: t('budget.chart_day'), value: (_, i) => (i == null || !days[i] ? '—' : dayLabel(days[i].day)) },
      { label: t('budget.chart_p95'), stroke: '#1565c0', fill: 'rgba(21,101,192,.35)', paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false }, value: (_, v) => (v == null ? '—' : nf.format(v)) },
      { label: t('budget.chart_contract'), stroke: '#c62828', width: 2, dash: [6, 4], points: { show: false }, value: (_, v) => (v == null ? '—' : nf.format(v)) }],
  }, [x, days.map((d) => d.p95_mbps), days.map(() => cap)], box);
}

if (pick && box) {
  pick.addEventListener('change', draw);
  draw();
  let width = window.innerWidth;
  window.addEventListener('resize', () => { if (window.innerWidth !== width) { width = window.innerWidth; draw(); } });
}
