// Line charts over time, drawn as SVG by hand: a few series, y from 0 to a round number, light
// grid lines, time labels, and a legend with each series' latest value. Redrawn on new data and
// when the chart's width changes.

import { h, s } from './dom.js';

const M = { left: 64, right: 10, top: 10, bottom: 22 };
const TIME_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800].map((x) => x * 1000);

/** 1, 2, 2.5 or 5 times a power of ten, at least x. */
function nice(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** The same for byte counts: powers of two of KiB/MiB/GiB multiplied by 1, 2 or 5. */
function niceBytes(x) {
  if (!(x > 0)) return 1024;
  const p = 1024 ** Math.max(0, Math.floor(Math.log(x) / Math.log(1024)));
  return nice(x / p) * p;
}

function clock(ms, withSecs) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}${withSecs ? `:${p(d.getSeconds())}` : ''}`;
}

export class Chart {
  /**
   * @param {object} o
   * @param {string} o.label what the chart shows (for screen readers)
   * @param {(v:number)=>string} o.format a value as text (axis and legend)
   * @param {boolean} [o.bytes] round the axis to binary units
   * @param {number} [o.height]
   * @param {number} [o.minSpanMs] the least time shown, so that a few samples do not fill it
   */
  constructor({ label, format, bytes = false, height = 180, minSpanMs = 60_000 }) {
    this.format = format;
    this.bytes = bytes;
    this.height = height;
    this.minSpanMs = minSpanMs;
    this.series = [];
    this.plot = h('div', { class: 'chart-plot' });
    this.legend = h('figcaption', { class: 'chart-legend' });
    this.el = h('figure', { class: 'chart', role: 'img', 'aria-label': label }, this.plot, this.legend);
    this.width = 0;
    this.resize = new ResizeObserver(() => {
      const w = Math.round(this.plot.clientWidth);
      if (w && w !== this.width) {
        this.width = w;
        this.draw();
      }
    });
    this.resize.observe(this.plot);
  }

  /**
   * series: [{label, cls: 'c0'..'c3', points: [[ms, value], ...], dashed, reference}]. A
   * `reference` series (a limit, a window) does not stretch the scale: it is drawn only where it
   * fits, so a 50 MiB limit does not flatten 200 KiB of use into the axis.
   */
  update(series) {
    this.series = series;
    this.draw();
  }

  destroy() {
    this.resize.disconnect();
  }

  draw() {
    const W = this.width || Math.round(this.plot.clientWidth) || 600;
    const H = this.height;
    const x0 = M.left;
    const x1 = W - M.right;
    const y0 = H - M.bottom;
    const y1 = M.top;
    const all = this.series.flatMap((se) => se.points);
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'aria-hidden': 'true' });
    if (!all.length) {
      svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'Collecting samples…'));
      this.plot.replaceChildren(svg);
      this.legend.replaceChildren();
      return;
    }
    const tMax = Math.max(...all.map((p) => p[0]));
    const tMin = Math.min(Math.min(...all.map((p) => p[0])), tMax - this.minSpanMs);
    const scaled = this.series.filter((se) => !se.reference).flatMap((se) => se.points);
    const vMax = Math.max(...(scaled.length ? scaled : all).map((p) => p[1]));
    const top = this.bytes ? niceBytes(vMax * 1.05) : nice(vMax * 1.05);
    const X = (t) => x0 + ((t - tMin) / (tMax - tMin || 1)) * (x1 - x0);
    const Y = (v) => y0 - (v / top) * (y0 - y1);

    const grid = s('g', { class: 'chart-grid' });
    for (let i = 0; i <= 4; i += 1) {
      const v = (top * i) / 4;
      const y = Y(v);
      grid.append(
        s('line', { x1: x0, x2: x1, y1: y, y2: y }),
        s('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end' }, this.format(v)),
      );
    }
    const span = tMax - tMin;
    const step = TIME_STEPS.find((st) => span / st <= Math.max(2, (x1 - x0) / 90)) || 3600_000;
    for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) {
      const x = X(t);
      // Labels at the edges are anchored inside the chart, not cut off by it.
      const anchor = x > x1 - 28 ? 'end' : x < x0 + 28 ? 'start' : 'middle';
      grid.append(
        s('line', { x1: x, x2: x, y1: y1, y2: y0, class: 'v' }),
        s('text', { x, y: H - 6, 'text-anchor': anchor }, clock(t, step < 60_000)),
      );
    }
    svg.append(grid, s('line', { x1: x0, x2: x1, y1: y0, y2: y0, class: 'chart-axis' }));
    for (const se of this.series) {
      if (!se.points.length) continue;
      if (se.reference && se.points.some((p) => p[1] > top)) continue;
      if (se.points.length === 1) {
        const [[t, v]] = se.points;
        svg.append(s('circle', { cx: X(t), cy: Y(v), r: 3, class: `chart-dot ${se.cls}` }));
        continue;
      }
      const pts = se.points.map(([t, v]) => `${X(t).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
      svg.append(s('polyline', { points: pts, class: `chart-line ${se.cls}${se.dashed ? ' dashed' : ''}` }));
    }
    this.plot.replaceChildren(svg);
    this.legend.replaceChildren(
      ...this.series.map((se) => {
        const last = se.points.length ? se.points[se.points.length - 1][1] : null;
        return h('span', { class: 'legend-item' },
          h('span', { class: `swatch ${se.cls}${se.dashed ? ' dashed' : ''}` }),
          `${se.label} `, h('b', { text: last === null ? '–' : this.format(last) }));
      }),
    );
  }
}
