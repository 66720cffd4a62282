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
  plot = new uPlot({
    width: Math.max(320, box.clientWidth || 640), height: 220,
    scales: { x: { time: false } },
    axes: [{ values: (_, ticks) => ticks.map((i) => labels[i] ?? '') }, { size: 50 }],
    series: [{},
      { label: t('budget.p95'), stroke: '#1565c0', width: 2, points: { show: true } },
      { label: t('budget.peak'), stroke: '#ef6c00', width: 1.5, points: { show: true } },
      { label: t('budget.capacity'), stroke: '#c62828', width: 1.5, dash: [6, 4] }],
  }, [x, rows.map((r) => r.p95_mbps), rows.map((r) => r.peak_mbps), rows.map((r) => r.capacity_mbps)], box);
}

if (pick) { pick.addEventListener('change', draw); draw(); }
