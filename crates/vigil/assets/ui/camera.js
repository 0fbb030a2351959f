// One camera: its live picture large (with a sound toggle when it has audio), its state live, the
// motion-recording settings form (POST
// /api/motion_recording/config/NAME; a refused value is shown at its field: the server's message
// starts with the field's name), its pre-buffer's stats and graphs, its latest clips.

import { api, ApiError, enc, snapshotUrl } from './api.js';
import { Chart } from './chart.js';
import { onvifLine, streamLine, syncLive } from './dashboard.js';
import {
  ago, badge, card, errorLine, facts, fmtBytes, fmtSecs, fmtTime, h, KINDS, kindBadges, kindLabel, poll,
  setBadge, setText,
} from './dom.js';
import { detectSettings } from './detect.js';
import * as history from './history.js';
import { liveView } from './live.js';

const FIELDS = [
  { name: 'enabled', kind: 'check', label: 'Motion recording enabled' },
  { name: 'pre_buffer_secs', kind: 'number', label: 'Pre-buffer (seconds)', min: 0, max: 60,
    hint: '0–60. Video kept from before the motion starts.' },
  { name: 'post_buffer_secs', kind: 'number', label: 'Post-roll (seconds)', min: 0, max: 300,
    hint: '0–300. Recording goes on this long after the motion ends.' },
  { name: 'max_clip_secs', kind: 'number', label: 'Longest clip (seconds)', min: 1, max: 86400,
    hint: 'A longer recording goes on in a new file.' },
  { name: 'motion_timeout_secs', kind: 'number', label: 'Motion timeout (seconds)', min: 1, max: 86400,
    hint: 'A motion start with no end is taken as ended after this.' },
  { name: 'buffer_mode', kind: 'select', label: 'Buffer mode', options: ['memory', 'disk', 'hybrid'],
    hint: 'memory; disk (a spool file, memory keeps an index); hybrid (newest GOPs in memory).' },
  { name: 'keyframe_only', kind: 'check', label: 'Keyframes only',
    hint: 'Older GOPs keep only their keyframe: a sparse pre-roll for a fraction of the memory.' },
  { name: 'record_on', kind: 'kinds', label: 'Record on',
    hint: 'The events that open or extend a clip. Every event is kept in the list of events anyway.' },
  { name: 'pulse_secs', kind: 'number', label: 'Pulse (seconds)', min: 1, max: 3600,
    hint: '1–3600. How long an event with no end lasts (a line crossed).' },
];


function settingsForm(name, onSaved) {
  const inputs = new Map();
  const errs = new Map();
  const status = h('p', { class: 'form-status', role: 'status' });
  let loaded = null;

  const rows = FIELDS.map((f) => {
    const id = `f-${f.name}`;
    let input;
    if (f.kind === 'check') input = h('input', { id, name: f.name, type: 'checkbox' });
    else if (f.kind === 'kinds') {
      input = h('fieldset', { id, class: 'kinds', tabindex: '-1' },
        h('legend', { class: 'sr-only', text: f.label }),
        KINDS.map((k) => h('label', { class: 'kind-check' },
          h('input', { type: 'checkbox', name: f.name, value: k, 'aria-describedby': `${id}-error` }), kindLabel(k))));
    } else if (f.kind === 'select') {
      input = h('select', { id, name: f.name }, f.options.map((o) => h('option', { value: o, text: o })));
    } else {
      input = h('input', { id, name: f.name, type: 'number', inputmode: 'numeric', step: 1, min: f.min, max: f.max });
    }
    const err = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert' });
    input.setAttribute('aria-describedby', `${id}-error`);
    input.addEventListener('input', () => clearError(f.name));
    input.addEventListener('change', () => clearError(f.name));
    inputs.set(f.name, input);
    errs.set(f.name, err);
    const label = f.kind === 'kinds'
      ? h('span', { class: 'field-label', id: `${id}-label`, text: f.label })
      : h('label', { for: id, text: f.label });
    if (f.kind === 'kinds') input.setAttribute('aria-labelledby', `${id}-label`);
    return h('div', { class: `field ${f.kind}`, dataset: { field: f.name } },
      f.kind === 'check' ? h('div', { class: 'check-row' }, input, label) : [label, input],
      f.hint ? h('p', { class: 'hint', text: f.hint }) : null, err);
  });
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save' });
  const form = h('form', { class: 'settings', novalidate: true }, rows,
    h('div', { class: 'actions' }, save, status));

  function clearError(field) {
    errs.get(field).textContent = '';
    inputs.get(field).removeAttribute('aria-invalid');
  }

  function fill(cfg) {
    loaded = cfg;
    for (const f of FIELDS) {
      const input = inputs.get(f.name);
      if (f.kind === 'check') input.checked = Boolean(cfg[f.name]);
      else if (f.kind === 'kinds') {
        for (const box of input.querySelectorAll('input')) box.checked = (cfg[f.name] || []).includes(box.value);
      } else input.value = String(cfg[f.name]);
      clearError(f.name);
    }
  }

  function value(f) {
    const input = inputs.get(f.name);
    if (f.kind === 'check') return input.checked;
    if (f.kind === 'kinds') return [...input.querySelectorAll('input:checked')].map((b) => b.value);
    if (f.kind === 'select') return input.value;
    // The server checks every value and names the field when it refuses one: send what was
    // typed (a number when it is one) and show its answer.
    const raw = input.value.trim();
    if (raw === '') return null;
    const n = Number(raw);
    return Number.isNaN(n) ? raw : n;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const f of FIELDS) {
      const v = value(f);
      if (!loaded || JSON.stringify(v) !== JSON.stringify(loaded[f.name])) body[f.name] = v;
    }
    FIELDS.forEach((f) => clearError(f.name));
    if (!Object.keys(body).length) {
      setText(status, 'Nothing changed.');
      return;
    }
    save.disabled = true;
    setText(status, 'Saving…');
    try {
      const cfg = await api(`/api/motion_recording/config/${enc(name)}`, { method: 'POST', body });
      fill(cfg);
      setText(status, `Saved at ${fmtTime(new Date().toISOString(), false)}.`);
      status.className = 'form-status ok';
      onSaved(cfg);
    } catch (e) {
      status.className = 'form-status bad';
      const field = e instanceof ApiError ? e.message.split(':')[0] : '';
      if (inputs.has(field)) {
        errs.get(field).textContent = e.message.slice(field.length + 1).trim();
        inputs.get(field).setAttribute('aria-invalid', 'true');
        inputs.get(field).focus();
        setText(status, 'Not saved: see the field marked above.');
      } else {
        setText(status, `Not saved: ${e.message}`);
      }
    } finally {
      save.disabled = false;
    }
  });
  return { form, fill };
}

/** A card only admins see (a viewer's page has nothing that changes state). */
function adminOnly(el) {
  el.classList.add('admin-only');
  return el;
}

export function mount(main, [rawName]) {
  const name = decodeURIComponent(rawName);
  const errors = errorLine();
  const stateBadge = badge('IDLE');
  const trigger = h('button', { type: 'button', class: 'admin-only', text: 'Trigger motion (5 s)' });
  const triggered = h('span', { class: 'muted', role: 'status' });
  const live = h('div');
  const view = liveView(name, { large: true });
  view.player.status('waiting', "Waiting for the camera's stream…");
  const sound = h('button', { type: 'button', class: 'sound', 'aria-pressed': 'false', text: 'Sound off',
    disabled: true, title: 'This camera sends no audio' });
  sound.addEventListener('click', () => {
    const v = view.video;
    v.muted = !v.muted;
    if (!v.muted) v.play().catch(() => {});
    sound.setAttribute('aria-pressed', String(!v.muted));
    setText(sound, v.muted ? 'Sound off' : 'Sound on');
  });
  const bufferFacts = h('div');
  const recent = h('div');
  // vigil's own motion detection (detect = true): motion now, the areas that moved over the
  // newest keyframe, the detector's figures.
  const detectFacts = h('div');
  const snap = h('img', { alt: `${name}: the newest keyframe`, width: 320 });
  const overlay = h('div', { class: 'detect-view' }, snap);
  const detectCard = card('Motion detection', h('p', { class: 'motion-now', role: 'status' }), overlay, detectFacts);
  detectCard.hidden = true;
  let snapAt = 0;
  const detectForm = detectSettings(name);
  const { form, fill } = settingsForm(name, (cfg) => {
    window_ = cfg.pre_buffer_secs;
    draw();
  });
  let window_ = null;
  const bytesChart = new Chart({ label: 'Pre-buffer bytes over time', format: fmtBytes, bytes: true });
  const secsChart = new Chart({ label: 'Seconds of video in the pre-buffer over time', format: (v) => `${+v.toFixed(1)} s` });

  trigger.addEventListener('click', async () => {
    trigger.disabled = true;
    try {
      await api(`/api/cameras/${enc(name)}/motion`, { method: 'POST', body: { action: 'pulse', duration_ms: 5000 } });
      setText(triggered, 'Motion sent.');
    } catch (e) {
      setText(triggered, e.message);
    } finally {
      trigger.disabled = false;
    }
  });

  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/', text: '← All cameras' })),
    h('div', { class: 'page-head' }, h('h1', { text: name }), stateBadge,
      h('div', { class: 'head-actions' }, trigger, triggered,
        h('a', { class: 'button admin-only', href: `#/cameras/edit/${enc(name)}`, text: 'Change camera' }))),
    errors.el,
    h('section', { class: 'card live-card' }, view.el,
      h('div', { class: 'actions' }, sound, h('a', { href: '#/live', text: 'All cameras live →' }))),
    h('div', { class: 'columns' },
      h('div', {}, adminOnly(card('Motion recording', form)), card('Now', live), detectCard,
        adminOnly(card('Detection settings', detectForm.form))),
      h('div', {},
        card('Pre-buffer fill over time', bytesChart.el, secsChart.el),
        card('Pre-buffer', bufferFacts),
        card('Latest clips', recent))),
  );

  let list = [];
  let node = null;
  function draw() {
    bytesChart.update([{ label: 'held', cls: 'c0', points: history.series(list, (x) => x.cameras[name]?.bytes) }]);
    const secs = history.series(list, (x) => x.cameras[name]?.duration_secs);
    secsChart.update([
      { label: 'seconds held', cls: 'c0', points: secs },
      { label: 'window (pre_buffer_secs)', cls: 'c3', dashed: true,
        points: window_ === null ? [] : secs.map(([t]) => [t, window_]) },
    ]);
  }

  async function loadConfig() {
    const cfg = await api(`/api/motion_recording/config/${enc(name)}`);
    window_ = cfg.pre_buffer_secs;
    fill(cfg);
    await detectForm.load();
  }

  async function loadLive() {
    const [cams, st, b] = await Promise.all([
      api('/api/cameras'),
      api(`/api/motion_recording/stats/${enc(name)}`),
      api(`/api/motion_recording/buffer_stats/${enc(name)}`),
    ]);
    const cam = cams.cameras.find((c) => c.name === name);
    if (!cam) throw new Error(`no camera named ${name}`);
    if (cam.state !== 'elsewhere' && cam.state !== 'unassigned') node = cam.node;
    // In a cluster (docs/cluster.md) another node may record it: this node's list then has
    // that node's entry, its stats and live view come through this node (passed on). Only
    // when that node doesn't answer (`elsewhere`), or no node holds the camera (`unassigned`),
    // is there nothing to show.
    const remote = cam.state === 'elsewhere' || cam.state === 'unassigned';
    if (remote) {
      cam.stream = { up: false, url: cam.stream?.url, packets: 0 };
      view.player.status('waiting', cam.node
        ? `Recorded by node ${cam.node}, which is not answering this node right now.`
        : 'No node records this camera right now.');
    }
    syncLive(view, cam);
    const audio = Boolean(cam.live?.audio);
    sound.disabled = !audio;
    sound.title = audio ? 'Turn the live sound on or off' : 'This camera sends no audio';
    setBadge(stateBadge, cam && !cam.enabled ? 'DISABLED' : st.state);
    const [stream] = streamLine(cam.stream);
    const [onvif] = onvifLine(cam.onvif);
    live.replaceChildren(facts([
      ...(cam.node ? [['Node', cam.node]] : []),
      ['Stream', remote ? '–' : stream],
      ['Source', cam.stream.url || '–'],
      ['Packets in', String(cam.stream.packets)],
      ['ONVIF', onvif],
      ...(cam.onvif?.last_error ? [['ONVIF error', `${cam.onvif.last_error} (${ago(cam.onvif.last_error_at)})`]] : []),
      ['Motion', st.motion_active ? 'on' : 'off'],
      ['Events now', (cam.active_kinds || []).map(kindLabel).join(', ') || 'none'],
      ['Clips recorded', String(st.clips_recorded)],
      ['Writing', st.current_clip_id ? `clip #${st.current_clip_id}` : '–'],
      ['Motion events', `${st.motion_events} (${st.overlapping_events} overlapping)`],
      ['Last event', ago(st.last_event_at)],
      ['Start latency', st.last_start_latency_ms === null ? '–' : `${st.last_start_latency_ms.toFixed(1)} ms`],
    ]));
    showDetect(cam.detect);
    detectForm.picture(
      (cam.stream.up && cam.stream.video_codec === 'h264') || cam.detect?.state === 'detecting',
      cam.stream.up
        ? 'No picture: the camera sends H.265 and vigil decodes H.264 (a detect stream on its H.264 sub-stream gives one). The polygons can still be drawn on the blank frame.'
        : 'No picture while the camera’s stream is down: the polygons can still be drawn on the blank frame.',
    );
    bufferFacts.replaceChildren(facts([
      ['Mode', b.mode],
      ['Held', `${fmtSecs(b.duration_secs)} · ${b.packets} packets · ${b.gops} GOPs`],
      ['Bytes', `${fmtBytes(b.bytes)} (memory ${fmtBytes(b.memory_bytes)}, disk ${fmtBytes(b.disk_bytes)})`],
      ['Peak', fmtBytes(b.peak_bytes)],
      ['Oldest', fmtTime(b.oldest, false)],
      ['Dropped', `${b.dropped_packets} packets, ${fmtBytes(b.dropped_bytes)} (window ${b.dropped_window_packets}, pool ${b.dropped_pool_packets})`],
      ['Flushes', `${b.flushes}${b.flushes ? ` · last: ${b.last_flush_packets} packets, ${fmtSecs(b.last_flush_secs)} of pre-roll` : ''}`],
    ]));
  }

  function showDetect(d) {
    detectCard.hidden = !d;
    if (!d) return;
    const now = detectCard.querySelector('.motion-now');
    now.classList.toggle('on', Boolean(d.motion));
    now.dataset.motion = String(Boolean(d.motion));
    setText(now, d.state !== 'detecting' ? (d.message || `detector ${d.state}`) : d.motion ? 'Motion now' : 'No motion');
    // A fresh picture every 2 s; the boxes are the latest analysed frame's.
    if (d.state === 'detecting' && Date.now() - snapAt > 2000) {
      snapAt = Date.now();
      snap.src = snapshotUrl(name);
    }
    overlay.querySelectorAll('.det-box').forEach((b) => b.remove());
    for (const [x, y, w, hh] of d.boxes || []) {
      const b = h('div', { class: 'det-box' });
      Object.assign(b.style, { left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${hh * 100}%` });
      overlay.append(b);
    }
    detectFacts.replaceChildren(facts([
      ['State', d.state],
      ['Stream', d.stream || '–'],
      ['Moving now', `${d.changed_percent.toFixed(1)} % of the picture`],
      ['Events', String(d.events)],
      ['Frames', `${d.frames_decoded} decoded · ${d.frames_skipped} skipped (between keyframes) · ${d.frames_analyzed} analysed`],
      ['Decode errors', String(d.decode_errors)],
      ['Analysis picture', d.width ? `${d.width}×${d.height}` : '–'],
    ]));
  }

  async function loadRecent() {
    const { recordings } = await api(`/api/recordings?camera=${enc(name)}&limit=5`);
    recent.replaceChildren(
      recordings.length
        ? h('ul', { class: 'plain' }, recordings.map((r) => h('li', {},
          h('a', { href: `#/recordings?camera=${enc(name)}&play=${r.id}`, text: fmtTime(r.start) }),
          ` · ${fmtSecs(r.duration_secs)} · pre-roll ${fmtSecs(r.pre_roll_secs)} `, kindBadges(r.kinds),
          r.status === 'recording' ? h('span', { class: 'badge state-recording', text: 'recording' }) : null)))
        : h('p', { class: 'muted', text: 'No clips yet.' }),
      h('p', {}, h('a', { href: `#/recordings?camera=${enc(name)}`, text: 'All clips of this camera →' })),
    );
  }

  const pollers = [];
  let stopped = false;
  loadConfig().then(() => {
    if (stopped) return;
    pollers.push(
      poll(loadLive, 1000, errors),
      // The node recording the camera keeps its history (this one, or another of a cluster).
      poll(async () => {
        list = await history.refresh(node);
        draw();
      }, 2000, errors),
      poll(loadRecent, 5000, errors),
    );
  }, (e) => {
    main.replaceChildren(card('Camera not found', h('p', { text: e.message }),
      h('p', {}, h('a', { href: '#/', text: 'Back to the dashboard' }))));
  });
  return {
    stop() {
      stopped = true;
      pollers.forEach((p) => p.stop());
      view.player.stop();
      bytesChart.destroy();
      secsChart.destroy();
    },
  };
}
