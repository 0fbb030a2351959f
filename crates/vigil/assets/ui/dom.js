// Small DOM helpers and formatters. Elements are built with h() (never from HTML strings), so a
// camera name or an error message can never become markup, and no inline style is needed (the
// page's Content-Security-Policy forbids them).

/** h('a', {href: '#/', class: 'x', onclick: f}, 'text', child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  el.append(...flat(children));
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  el.append(...flat(children));
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function flat(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

/** Sets an element's text only when it changed (no needless layout work on every poll). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function fmtSecs(x, digits = 1) {
  if (x === null || x === undefined) return '–';
  if (x >= 120) return `${Math.floor(x / 60)} min ${Math.round(x % 60)} s`;
  return `${x.toFixed(digits)} s`;
}

/** Local date and time of an RFC 3339 time. */
export function fmtTime(iso, withDate = true) {
  if (!iso) return '–';
  const d = new Date(iso);
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  if (!withDate) return time;
  return `${d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })} ${time}`;
}

/** "3 s ago", "5 min ago". */
export function ago(iso) {
  if (!iso) return 'never';
  const secs = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (secs < 90) return `${Math.round(secs)} s ago`;
  if (secs < 5400) return `${Math.round(secs / 60)} min ago`;
  return fmtTime(iso);
}

/** YYYY-MM-DD of a local date. */
export function localDay(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** A recorder state as a coloured badge. */
export function badge(state) {
  const el = h('span', { class: 'badge' });
  setBadge(el, state);
  return el;
}

export function setBadge(el, state) {
  const st = state || 'IDLE';
  setText(el, st);
  el.className = `badge state-${st.toLowerCase()}`;
}

/** A fill bar: a track and a filled part whose width is the fraction (0..1). */
export function meter(label) {
  const fill = h('span', { class: 'meter-fill' });
  const text = h('span', { class: 'meter-text' });
  const el = h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100 },
    h('span', { class: 'meter-track' }, fill), text);
  return {
    el,
    set(fraction, caption, warn = false) {
      const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
      fill.style.width = `${(f * 100).toFixed(1)}%`;
      fill.classList.toggle('warn', warn);
      el.setAttribute('aria-valuenow', Math.round(f * 100));
      setText(text, caption);
    },
  };
}

/** A definition list from [label, value] pairs (value: text or a node). */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

/** A card: a titled section. */
export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', { text: title }) : null, ...children);
}

/** A line that shows what went wrong (hidden while all is well). */
export function errorLine() {
  const el = h('p', { class: 'alert', role: 'alert', hidden: true });
  return {
    el,
    show(e) {
      // "vigil is not answering" is shown by the connection indicator already.
      if (e?.status === 0) return;
      setText(el, e?.message || String(e));
      el.hidden = false;
    },
    clear() {
      el.hidden = true;
    },
  };
}

/**
 * Calls `fn` now and then every `ms` after each call finishes (never two at once). A failure
 * is shown on `errors` (an errorLine()), and cleared by the next success. Returns {stop, now}.
 */
export function poll(fn, ms, errors = null) {
  let timer = null;
  let stopped = false;
  let running = false;
  const run = async () => {
    if (stopped || running) return;
    running = true;
    clearTimeout(timer);
    try {
      await fn();
      errors?.clear();
    } catch (e) {
      errors?.show(e);
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(run, ms);
    }
  };
  run();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    now: run,
  };
}

/** Every event kind, in the server's order (docs/events.md). */
export const KINDS = ['motion', 'person', 'vehicle', 'animal', 'face', 'package', 'line_crossing',
  'intrusion', 'tamper', 'sound', 'input'];

/** A kind as people write it: "line crossing". */
export const kindLabel = (k) => k.replace(/_/g, ' ');

/** A badge per event kind ("person", "vehicle"). */
export function kindBadges(kinds) {
  return (kinds || []).map((k) => h('span', { class: `kind kind-${k}`, text: kindLabel(k) }));
}
