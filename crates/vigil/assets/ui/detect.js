// The camera page's motion-detection settings: the camera's detect* keys (GET/POST
// /api/cameras/NAME/detect) in a form, and a zone/mask editor drawn over the camera's newest
// picture. Click the picture to place a polygon's points, "Close polygon" ends it (Save closes
// one left open); zones (only they count) are green, masks (never count) red. The polygons can
// also be typed as numbers (the same [[x, y], ...] lists, 0..1 of the picture), for keyboards
// and exact values. A refused value is shown at its field (the server's message starts with the
// field's name).

import { api, ApiError, enc, snapshotUrl } from './api.js';
import { fmtTime, h, s, setText } from './dom.js';

const NUMBERS = [
  { name: 'detect_threshold', label: 'Pixel threshold', step: 1,
    hint: '1–255 (default 20): how much a pixel’s brightness must change to count.' },
  { name: 'detect_min_area', label: 'Smallest motion (% of the picture)', step: 0.1,
    hint: '0–100 (default 0.5) of what zones and masks leave.' },
  { name: 'detect_min_secs', label: 'Shortest motion (seconds)', step: 0.1,
    hint: '0–60 (default 0.5): how long motion must last to count.' },
];

const round = (v) => Math.round(v * 1000) / 1000;

export function detectSettings(name) {
  const inputs = new Map();
  const errs = new Map();
  const status = h('p', { class: 'form-status', role: 'status' });
  let loaded = null;
  // The polygons being edited, and the one being drawn.
  const polys = { detect_zones: [], detect_masks: [] };
  let draft = [];
  let pictured = false;

  function field(key, input, label, hint, cls = '') {
    const id = input.id;
    const err = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert' });
    input.setAttribute('aria-describedby', `${id}-error`);
    input.addEventListener('input', () => clearError(key));
    inputs.set(key, input);
    errs.set(key, err);
    const l = h('label', { for: id, text: label });
    return h('div', { class: `field ${cls}`, dataset: { field: key } },
      cls === 'check' ? h('div', { class: 'check-row' }, input, l) : [l, input],
      hint ? h('p', { class: 'hint', text: hint }) : null, err);
  }

  const on = h('input', { id: 'd-detect', type: 'checkbox' });
  const url = h('input', { id: 'd-detect_url', type: 'text', placeholder: 'rtsp://camera/sub-stream', spellcheck: 'false' });
  const rows = [
    field('detect', on, 'Find motion in the video', 'vigil decodes the camera’s H.264 stream itself: for cameras whose ONVIF events are missing or broken. Turning it on or off restarts the camera.', 'check'),
    ...NUMBERS.map((f) => field(f.name,
      h('input', { id: `d-${f.name}`, type: 'number', step: f.step, inputmode: 'decimal' }), f.label, f.hint)),
    field('detect_url', url, 'Detect stream', 'Empty: the camera’s ONVIF sub-stream when it has one, else the stream it records. An H.264 sub-stream (640×360 or so) costs least.', 'wide'),
  ];

  // The editor: the picture, the polygons over it in 0..1 coordinates.
  const pic = h('img', { class: 'zone-pic', alt: `${name}: the picture zones and masks are drawn on` });
  const svg = s('svg', { class: 'zone-svg', viewBox: '0 0 1 1', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const board = h('div', { class: 'zone-board', title: 'Click to place the points of a polygon' }, pic, svg);
  const picNote = h('p', { class: 'hint' });
  const modeZone = h('input', { type: 'radio', name: 'zone-mode', id: 'zone-mode-zone', value: 'detect_zones' });
  const modeMask = h('input', { type: 'radio', name: 'zone-mode', id: 'zone-mode-mask', value: 'detect_masks', checked: true });
  const closeBtn = h('button', { type: 'button', id: 'zone-close', text: 'Close polygon', disabled: true });
  const undoBtn = h('button', { type: 'button', id: 'zone-undo', text: 'Undo point', disabled: true });
  const list = h('ul', { class: 'plain zone-list' });
  const typed = {
    detect_zones: h('textarea', { id: 'd-detect_zones', rows: 2, spellcheck: 'false' }),
    detect_masks: h('textarea', { id: 'd-detect_masks', rows: 2, spellcheck: 'false' }),
  };
  const editor = h('div', { class: 'field wide zone-editor' },
    h('span', { class: 'field-label', text: 'Zones and masks' }),
    h('div', { class: 'zone-tools', role: 'group', 'aria-label': 'Drawing' },
      h('label', { class: 'kind-check' }, modeMask, 'Draw a mask (never counts)'),
      h('label', { class: 'kind-check' }, modeZone, 'Draw a zone (only zones count)'),
      closeBtn, undoBtn),
    board, picNote, list,
    h('details', {}, h('summary', { text: 'Edit as numbers' }),
      field('detect_zones', typed.detect_zones, 'Zones', 'A list of polygons: [[[x, y], [x, y], [x, y]], …], 0..1 of the picture.', 'wide'),
      field('detect_masks', typed.detect_masks, 'Masks', 'The same, for masks.', 'wide')));

  const save = h('button', { type: 'submit', class: 'primary', text: 'Save' });
  const form = h('form', { class: 'settings detect-settings', novalidate: true }, rows, editor,
    h('div', { class: 'actions' }, save, status));

  function clearError(key) {
    errs.get(key).textContent = '';
    inputs.get(key).removeAttribute('aria-invalid');
  }

  function draw() {
    const shapes = [];
    for (const [key, cls] of [['detect_zones', 'zone'], ['detect_masks', 'mask']]) {
      for (const p of polys[key]) shapes.push(s('polygon', { class: cls, points: p.map((q) => q.join(',')).join(' ') }));
    }
    if (draft.length) {
      const cls = `draft ${mode() === 'detect_zones' ? 'zone' : 'mask'}`;
      shapes.push(s('polyline', { class: cls, points: draft.map((q) => q.join(',')).join(' ') }));
      for (const [x, y] of draft) shapes.push(s('circle', { class: cls, cx: x, cy: y, r: 0.008 }));
    }
    svg.replaceChildren(...shapes);
    closeBtn.disabled = draft.length < 3;
    undoBtn.disabled = !draft.length;
    const item = (key, i) => h('li', {},
      `${key === 'detect_zones' ? 'Zone' : 'Mask'} ${i + 1} (${polys[key][i].length} points) `,
      h('button', { type: 'button', class: 'link', text: 'Remove',
        'aria-label': `Remove ${key === 'detect_zones' ? 'zone' : 'mask'} ${i + 1}`,
        onclick: () => { polys[key].splice(i, 1); syncTyped(); draw(); } }));
    list.replaceChildren(...polys.detect_zones.map((_, i) => item('detect_zones', i)),
      ...polys.detect_masks.map((_, i) => item('detect_masks', i)));
    if (!polys.detect_zones.length && !polys.detect_masks.length && !draft.length) {
      list.append(h('li', { class: 'muted', text: 'No zones or masks: the whole picture counts.' }));
    }
  }

  const mode = () => (modeZone.checked ? 'detect_zones' : 'detect_masks');

  function syncTyped() {
    for (const k of Object.keys(typed)) typed[k].value = JSON.stringify(polys[k]);
  }

  function closeDraft() {
    if (draft.length < 3) return false;
    polys[mode()].push(draft);
    draft = [];
    syncTyped();
    draw();
    return true;
  }

  board.addEventListener('click', (ev) => {
    const r = svg.getBoundingClientRect();
    if (!r.width || !r.height) return;
    const x = round(Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)));
    const y = round(Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height)));
    draft.push([x, y]);
    draw();
  });
  closeBtn.addEventListener('click', closeDraft);
  undoBtn.addEventListener('click', () => { draft.pop(); draw(); });
  modeZone.addEventListener('change', draw);
  modeMask.addEventListener('change', draw);
  for (const [k, t] of Object.entries(typed)) {
    t.addEventListener('change', () => {
      try {
        const v = JSON.parse(t.value || '[]');
        if (!Array.isArray(v)) throw new Error('not a list');
        polys[k] = v;
        draw();
      } catch {
        // Sent as typed: the server says what is wrong, at this field.
      }
    });
  }

  pic.addEventListener('load', () => {
    board.classList.remove('blank');
    setText(picNote, `The camera’s picture at ${fmtTime(new Date().toISOString(), false)}.`);
  });
  pic.addEventListener('error', () => {
    board.classList.add('blank');
    setText(picNote, 'No picture from the camera yet (its stream is down, or H.265): the polygons can still be drawn on the blank frame.');
  });

  function fill(d) {
    loaded = d;
    on.checked = Boolean(d.detect);
    for (const f of NUMBERS) inputs.get(f.name).value = String(d[f.name]);
    url.value = d.detect_url || '';
    polys.detect_zones = structuredClone(d.detect_zones);
    polys.detect_masks = structuredClone(d.detect_masks);
    draft = [];
    syncTyped();
    for (const k of inputs.keys()) clearError(k);
    draw();
  }

  function value(key) {
    if (key === 'detect') return on.checked;
    if (key === 'detect_url') return url.value.trim() || null;
    if (key in typed) {
      try {
        return JSON.parse(typed[key].value || '[]');
      } catch {
        return typed[key].value;
      }
    }
    const raw = inputs.get(key).value.trim();
    if (raw === '') return null;
    const n = Number(raw);
    return Number.isNaN(n) ? raw : n;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (draft.length && !closeDraft()) {
      setText(status, 'A polygon needs at least 3 points: place more, or undo them.');
      status.className = 'form-status bad';
      return;
    }
    const body = {};
    for (const k of inputs.keys()) {
      const v = value(k);
      if (!loaded || JSON.stringify(v) !== JSON.stringify(loaded[k])) body[k] = v;
    }
    for (const k of inputs.keys()) clearError(k);
    if (!Object.keys(body).length) {
      setText(status, 'Nothing changed.');
      status.className = 'form-status';
      return;
    }
    save.disabled = true;
    setText(status, 'detect' in body || 'detect_url' in body ? 'Saving (the camera restarts)…' : 'Saving…');
    try {
      const d = await api(`/api/cameras/${enc(name)}/detect`, { method: 'POST', body });
      fill(d);
      setText(status, `Saved at ${fmtTime(new Date().toISOString(), false)}.`);
      status.className = 'form-status ok';
    } catch (e) {
      status.className = 'form-status bad';
      const key = e instanceof ApiError ? e.message.split(':')[0] : '';
      if (inputs.has(key)) {
        if (key in typed) typed[key].closest('details').open = true;
        errs.get(key).textContent = e.message.slice(key.length + 1).trim();
        inputs.get(key).setAttribute('aria-invalid', 'true');
        inputs.get(key).focus();
        setText(status, 'Not saved: see the field marked above.');
      } else {
        setText(status, `Not saved: ${e.message}`);
      }
    } finally {
      save.disabled = false;
    }
  });

  return {
    form,
    async load() {
      fill(await api(`/api/cameras/${enc(name)}/detect`));
    },
    /**
     * The camera's picture under the polygons, once there is one to decode (`available`: an
     * H.264 stream or detect stream is up); else the blank frame and `why`.
     */
    picture(available, why) {
      if (available && !pictured) {
        pictured = true;
        pic.src = snapshotUrl(name);
      } else if (!available && !pictured) {
        board.classList.add('blank');
        setText(picNote, why);
      }
    },
  };
}
