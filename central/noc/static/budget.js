// Budget page: p95 and peak vs contracted capacity per period, for one chosen site.
import { boot, t } from './common.js';
import uPlot from './vendor/uplot/uPlot.esm.js';

const box = document.getElementById('chart-budget');
const pick = document.getElementById('budget-site');
let plot = null;

function draw() {
  if (plot) { plot.destroy(); plot = null; }
  const rows = boot.rows.filter((r) => r.site === pick.value);
  box.dataset.points = String(rows.length);
  if (!rows.length) { box.textContent = t('chart.no_data'); return; }
  box.textContent = '';
  const x = rows.map((_, i) => i);
  const labels = rows.map((r) => r.period);
  const top = Math.max(...rows.map((r) => Math.max(r.peak_mbps ?? 0, r.capacity_mbps ?? 0))) * 1.1 || 1;
  const bars = uPlot.paths.bars({ size: [0.35, 60] });
  plot = new uPlot({
    width: Math.max(320, box.clientWidth || 640), height: 240,
    scales: { x: { time: false, range: () => [-0.5, rows.length - 0.5] }, y: { range: () => [0, top] } },
    axes: [{ splits: () => x, values: (_, ticks) => ticks.map((i) => labels[i] ?? '') }, { size: 50 }],
    series: [{},
      { label: t('budget.p95'), stroke: '#1565c0', fill: 'rgba(21,101,192,.35)', paths: bars, points: { show: false } },
      { label: t('budget.peak'), stroke: '#ef6c00', width: 2, points: { show: true, size: 8 }, paths: () => null },
      { label: t('budget.capacity'), stroke: '#c62828', width: 2, dash: [6, 4], points: { show: true } }],
  }, [x, rows.map((r) => r.p95_mbps), rows.map((r) => r.peak_mbps), rows.map((r) => r.capacity_mbps)], box);
}

if (pick) { pick.addEventListener('change', draw); draw(); }
