// A day's clips on a 24-hour axis, one row per camera (the recordings page). Each clip is a bar
// from its start to its end; the part before the motion (its pre-roll) is shaded. A click on a
// bar plays the clip from the motion's start; Left / Right step to the previous / next clip of
// the timeline in time order (from anywhere on the page but a form field or the player, which
// uses the arrows to seek).
//
// A whole day makes a short clip a sliver, so the axis zooms (24 h down to 1 min, the window
// centred on the chosen clip, else on the day's latest) and pans by half a window. Drawn in SVG
// at the element's pixel width (again when it resizes), so labels never stretch. A clip shorter
// than a few pixels still gets a bar MIN_PX wide and a wider invisible hit area.

import { fmtSecs, fmtTime, h, kindLabel, s } from './dom.js';
import { thumbUrl } from './api.js';

const DAY_MS = 86400000;
const MIN_PX = 3;
const HIT_PX = 10;
const ROW = 26;
const AXIS = 20;
const ZOOMS = [['24 h', DAY_MS], ['6 h', 6 * 3600e3], ['1 h', 3600e3], ['10 min', 600e3], ['1 min', 60e3]];
/** Label steps, the smallest that leaves ~70 px per label is used. */
const STEPS = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 3 * 3600e3, 6 * 3600e3];

export class Timeline {
  /** onPick(clip): a bar was chosen (click or arrow key). */
  constructor(onPick) {
    this.onPick = onPick;
    this.clips = [];
    this.cameras = [];
    this.day = null;
    this.selected = null;
    this.svg = s('svg', { class: 'tl-svg', role: 'group', 'aria-label': 'Clips of the day on a 24-hour axis' });
    this.caption = h('p', { class: 'muted tl-caption' });
    this.span = DAY_MS;
    this.center = null; // ms; null: the latest clip's
    this.zoom = h('select', { class: 'tl-zoom', 'aria-label': 'Timeline span' },
      ZOOMS.map(([t, ms]) => h('option', { value: String(ms), text: t })));
    this.zoom.addEventListener('change', () => {
      this.span = Number(this.zoom.value);
      this.center = this.focus();
      this.draw();
    });
    const pan = (dir, text, label) => {
      const b = h('button', { type: 'button', class: 'tl-pan', text, 'aria-label': label });
      b.addEventListener('click', () => {
        const [from, to] = this.window();
        this.center = (from + to) / 2 + (dir * (to - from)) / 2;
        this.draw();
      });
      return b;
    };
    const tools = h('div', { class: 'tl-tools' }, h('label', {}, 'Span ', this.zoom),
      pan(-1, '◀', 'Earlier'), pan(1, '▶', 'Later'));
    // The picture of the clip under the pointer.
    this.preview = h('img', { class: 'tl-preview', alt: '', hidden: true });
    this.preview.addEventListener('error', () => { this.preview.hidden = true; });
    this.el = h('div', { class: 'timeline', tabindex: '0' }, tools, this.svg, this.caption, this.preview);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.el);
    this.onKey = (ev) => this.key(ev);
    document.addEventListener('keydown', this.onKey);
  }

  /** Shows clip r's picture above the pointer (it hides itself if the clip has none). */
  showPreview(r, ev) {
    const box = this.el.getBoundingClientRect();
    this.preview.src = thumbUrl(r.id);
    this.preview.dataset.id = r.id;
    this.preview.style.left = `${Math.max(0, Math.min(box.width - 160, ev.clientX - box.left - 80))}px`;
    this.preview.style.top = `${Math.max(0, ev.clientY - box.top - 110)}px`;
    this.preview.hidden = false;
  }

  destroy() {
    this.resize.disconnect();
    document.removeEventListener('keydown', this.onKey);
  }

  /** day: 'YYYY-MM-DD' (local); clips: the day's recordings; cameras: the rows, in order. */
  update(day, clips, cameras) {
    this.day = day;
    this.dayStart = new Date(`${day}T00:00:00`).getTime();
    // A day is 23 or 25 hours when the clocks change.
    const next = new Date(this.dayStart);
    next.setDate(next.getDate() + 1);
    this.dayLen = next.getTime() - this.dayStart || DAY_MS;
    this.clips = [...clips].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    this.cameras = cameras;
    this.draw();
  }

  select(id) {
    if (this.selected === id) return;
    this.selected = id;
    const r = this.clips.find((c) => c.id === id);
    if (r && this.span < this.dayLen) {
      // Keep the chosen clip in view.
      const start = Date.parse(r.start);
      const [from, to] = this.window();
      if (start < from || start > to) {
        this.center = start + (r.duration_secs * 1000) / 2;
        this.draw();
        return;
      }
    }
    for (const g of this.svg.querySelectorAll('.tl-clip')) g.classList.toggle('sel', Number(g.dataset.id) === id);
  }

  /** The time the window centres on when nothing else says: the chosen clip, else the latest. */
  focus() {
    if (this.center !== null) return this.center;
    const r = this.clips.find((c) => c.id === this.selected) || this.clips[this.clips.length - 1];
    return r ? Date.parse(r.start) + (r.duration_secs * 1000) / 2 : this.dayStart + this.dayLen / 2;
  }

  /** [from, to] in ms: the part of the day shown. */
  window() {
    const span = Math.min(this.span, this.dayLen);
    const from = Math.min(Math.max(this.focus() - span / 2, this.dayStart), this.dayStart + this.dayLen - span);
    return [from, from + span];
  }

  x(ms, width) {
    const [from, to] = this.window();
    return ((ms - from) / (to - from)) * width;
  }

  draw() {
    const width = Math.floor(this.el.clientWidth);
    if (!width || this.day === null) return;
    const label = Math.min(140, Math.max(70, width * 0.16));
    const w = width - label - 8;
    const height = AXIS + this.cameras.length * ROW + 4;
    this.svg.setAttribute('width', String(width));
    this.svg.setAttribute('height', String(height));
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const parts = [];
    // The axis: a labelled line every `step` (local time), a tick half-way.
    const [from, to] = this.window();
    const step = STEPS.find((st) => ((to - from) / st) * 70 <= w) || STEPS[STEPS.length - 1];
    const offset = new Date(from).getTimezoneOffset() * 60e3;
    const first = Math.ceil((from - offset) / (step / 2)) * (step / 2) + offset;
    for (let t = first; t <= to; t += step / 2) {
      const x = label + this.x(t, w);
      const major = Math.round((t - offset) / (step / 2)) % 2 === 0;
      parts.push(s('line', { class: major ? 'tl-grid' : 'tl-tick', x1: x, x2: x, y1: AXIS - (major ? 8 : 4), y2: height }));
      if (major) {
        const d = new Date(t);
        const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
        const text = step < 60e3 ? `${hm}:${String(d.getSeconds()).padStart(2, '0')}` : t === this.dayStart + this.dayLen ? '24:00' : hm;
        parts.push(s('text', { class: 'tl-hour', x, y: AXIS - 10, 'text-anchor': x < label + 20 ? 'start' : x > label + w - 20 ? 'end' : 'middle' }, text));
      }
    }
    const now = Date.now();
    this.cameras.forEach((cam, i) => {
      const y = AXIS + i * ROW;
      parts.push(s('text', { class: 'tl-cam', x: 0, y: y + ROW / 2 + 4 }, cam.length > 18 ? `${cam.slice(0, 17)}…` : cam));
      parts.push(s('rect', { class: 'tl-lane', x: label, y: y + 4, width: w, height: ROW - 8 }));
    });
    if (now >= from && now <= to) {
      const x = label + this.x(now, w);
      parts.push(s('line', { class: 'tl-now', x1: x, x2: x, y1: AXIS - 2, y2: height }));
    }
    for (const r of this.clips) {
      const row = this.cameras.indexOf(r.camera);
      if (row < 0) continue;
      const start = Date.parse(r.start);
      const end = r.status === 'recording' ? Math.max(now, start) : start + r.duration_secs * 1000;
      if (end < from || start > to) continue;
      const motion = start + r.pre_roll_secs * 1000;
      const x0 = label + Math.max(0, this.x(start, w));
      const x1 = label + Math.min(w, this.x(end, w));
      const xm = label + Math.min(w, Math.max(0, this.x(motion, w)));
      const y = AXIS + row * ROW + 5;
      const bw = Math.max(MIN_PX, x1 - x0);
      const pre = Math.min(bw, xm - x0);
      // Coloured by what the camera saw (the first kind other than plain motion).
      const kinds = r.kinds || [];
      const seen = kinds.find((k) => k !== 'motion') || kinds[0] || 'motion';
      const g = s('g', { class: `tl-clip k-${seen}${r.status === 'recording' ? ' rec' : ''}${r.id === this.selected ? ' sel' : ''}`, dataset: { id: r.id, kinds: kinds.join(' ') } },
        s('title', {}, `${r.camera} · ${fmtTime(r.start)} · ${fmtSecs(r.duration_secs)} · motion at ${fmtSecs(r.pre_roll_secs)}${kinds.length ? ` · ${kinds.map(kindLabel).join(', ')}` : ''}`),
        s('rect', { class: 'tl-hit', x: x0 + bw / 2 - Math.max(bw, HIT_PX) / 2, y: y - 2, width: Math.max(bw, HIT_PX), height: ROW - 6 }),
        s('rect', { class: 'tl-bar', x: x0, y, width: bw, height: ROW - 10 }),
        pre > 0.5 ? s('rect', { class: 'tl-pre', x: x0, y, width: pre, height: ROW - 10 }) : null,
        // The kinds written on the bar when it is wide enough for them.
        bw - pre > 60 && kinds.length
          ? s('text', { class: 'tl-kinds', x: x0 + Math.max(pre, 0) + 4, y: y + ROW - 14 }, kinds.map(kindLabel).join(' · '))
          : null);
      g.addEventListener('click', () => this.pick(r));
      g.addEventListener('mouseenter', (ev) => this.showPreview(r, ev));
      g.addEventListener('mouseleave', () => { this.preview.hidden = true; });
      parts.push(g);
    }
    this.svg.replaceChildren(...parts);
    const n = this.clips.length;
    this.caption.textContent = n
      ? `${n} clip${n === 1 ? '' : 's'} on ${this.day}. Shaded: the pre-roll before the motion. Click a bar to play from the motion; ← → for the previous / next clip.`
      : `No clips on ${this.day}.`;
  }

  pick(r) {
    this.select(r.id);
    this.onPick(r);
  }

  key(ev) {
    if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    const t = ev.target;
    if (t instanceof Element && t.closest('input, select, textarea, video, [contenteditable]')) return;
    if (!this.clips.length || !this.el.isConnected) return;
    ev.preventDefault();
    const i = this.clips.findIndex((r) => r.id === this.selected);
    let j;
    if (i < 0) j = ev.key === 'ArrowLeft' ? this.clips.length - 1 : 0;
    else j = Math.min(this.clips.length - 1, Math.max(0, i + (ev.key === 'ArrowLeft' ? -1 : 1)));
    if (j !== i) this.pick(this.clips[j]);
  }
}
