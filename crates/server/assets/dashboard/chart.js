// The run-history chart: runs per hour stacked by outcome, and the hour's mean lateness as a
// line on its own scale. Plain SVG, drawn here; no library.
const NS = 'http://www.w3.org/2000/svg';
const OUTCOMES = ['succeeded', 'failed', 'abandoned', 'executing'];
const W = 900;
const H = 260;
const PAD = { left: 40, right: 50, top: 10, bottom: 28 };

function el(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

/** A round upper bound for an axis. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** The chart of `hours` (the API's run-history `hours`), as an <svg>. */
export function historyChart(hours) {
  const svg = el('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'runs per hour by outcome' });
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const totals = hours.map((b) => OUTCOMES.reduce((n, o) => n + b[o], 0));
  const yMax = niceMax(Math.max(0, ...totals));
  const lateMax = niceMax(Math.max(0, ...hours.map((b) => b.lateness_mean_ms || 0)));
  const step = plotW / Math.max(1, hours.length);
  const barW = Math.max(1, step * 0.8);
  const y = (v) => PAD.top + plotH - (v / yMax) * plotH;
  svg.append(el('line', { class: 'axis', x1: PAD.left, y1: PAD.top + plotH, x2: W - PAD.right, y2: PAD.top + plotH }));
  for (const frac of [0, 0.5, 1]) {
    svg.append(el('text', { x: PAD.left - 4, y: y(yMax * frac) + 3, 'text-anchor': 'end' }, String(Math.round(yMax * frac))));
  }
  svg.append(el('text', { x: W - PAD.right + 4, y: PAD.top + 8 }, `${lateMax} ms`));
  const labelEvery = Math.ceil(hours.length / 8);
  const points = [];
  hours.forEach((b, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    const group = el('g', { 'data-hour': b.start });
    let base = 0;
    for (const o of OUTCOMES) {
      if (!b[o]) continue;
      group.append(el('rect', { class: o, x, width: barW, y: y(base + b[o]), height: (b[o] / yMax) * plotH }));
      base += b[o];
    }
    const hour = new Date(b.start);
    const label = `${hour.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}: ` +
      OUTCOMES.map((o) => `${b[o]} ${o}`).join(', ') +
      (b.lateness_mean_ms === null ? '' : `; lateness mean ${b.lateness_mean_ms} ms, max ${b.lateness_max_ms} ms`);
    group.append(el('title', {}, label));
    svg.append(group);
    if (i % labelEvery === 0) {
      svg.append(el('text', { x: x + barW / 2, y: H - 10, 'text-anchor': 'middle' },
        hour.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })));
    }
    if (b.lateness_mean_ms !== null) {
      points.push(`${x + barW / 2},${PAD.top + plotH - (b.lateness_mean_ms / lateMax) * plotH}`);
    }
  });
  if (points.length > 1) svg.append(el('polyline', { class: 'lateness', points: points.join(' ') }));
  return svg;
}
