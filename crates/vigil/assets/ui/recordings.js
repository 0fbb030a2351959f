// Clips: filtered by camera and day, newest first, each with its achieved pre-roll. A clip plays
// in the page (<video> on /api/recordings/ID/file, which answers Range requests, so seeking
// works), downloads, is protected from retention, or deleted. Above the list, the day's timeline
// (timeline.js): the chosen day's clips (today's when no day is chosen) as bars per camera.

import { api, enc, fileUrl, thumbUrl } from './api.js';
import {
  card, errorLine, fmtBytes, fmtSecs, fmtTime, h, KINDS, kindBadges, kindLabel, localDay, poll, setText,
} from './dom.js';
import { Timeline } from './timeline.js';

function dayRange(day) {
  const from = new Date(`${day}T00:00:00`);
  const to = new Date(from);
  to.setDate(to.getDate() + 1);
  return [from.toISOString(), to.toISOString()];
}

function fileName(r) {
  const stamp = r.start.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${r.camera.replace(/[^\w.-]+/g, '_')}-${stamp}.mp4`;
}

const LIMIT = 500;

export function mount(main, [query]) {
  const params = new URLSearchParams(query);
  const errors = errorLine();
  const cameraSel = h('select', { id: 'filter-camera', name: 'camera' }, h('option', { value: '', text: 'All cameras' }));
  const dayInput = h('input', { id: 'filter-date', name: 'date', type: 'date' });
  const kindSel = h('select', { id: 'filter-kind', name: 'kind' }, h('option', { value: '', text: 'All kinds' }),
    KINDS.map((k) => h('option', { value: k, text: kindLabel(k) })));
  const clear = h('button', { type: 'button', text: 'Clear' });
  const count = h('span', { class: 'muted', role: 'status' });
  const filters = h('form', { class: 'filters' },
    h('label', {}, 'Camera ', cameraSel), h('label', {}, 'Day ', dayInput), h('label', {}, 'Kind ', kindSel),
    clear, count);

  const video = h('video', { id: 'player-video', controls: true, preload: 'metadata', playsinline: true });
  const title = h('h2');
  const info = h('p', { class: 'muted' });
  const download = h('a', { class: 'button', text: 'Download' });
  const toMotion = h('button', { type: 'button', text: 'Jump to motion' });
  const playerError = h('p', { class: 'alert', role: 'alert', hidden: true });
  const player = h('section', { class: 'card player', hidden: true },
    title, video, playerError, h('div', { class: 'actions' }, toMotion, download, info));

  const tbody = h('tbody');
  const table = h('table', { class: 'clips' },
    h('thead', {}, h('tr', {}, ['Picture', 'Start', 'Camera', 'Length', 'Pre-roll', 'Size', 'Video', 'Events', 'Trigger', ''].map((t) => h('th', { text: t })))),
    tbody);
  const empty = h('p', { class: 'muted', text: 'No clips match.', hidden: true });
  const timeline = new Timeline((r) => play(r, true, r.pre_roll_secs));
  const timelineTitle = h('h2');
  main.append(h('h1', { text: 'Recordings' }), errors.el, filters,
    h('section', { class: 'card tl-card' }, timelineTitle, timeline.el), player, card(null, table, empty));
  let cameraNames = [];

  let playing = null;
  let rows = [];
  let signature = '';

  cameraSel.value = params.get('camera') || '';
  dayInput.value = params.get('date') || '';
  kindSel.value = KINDS.includes(params.get('kind')) ? params.get('kind') : '';
  const wantPlay = Number(params.get('play')) || null;

  function syncHash() {
    const p = new URLSearchParams();
    if (cameraSel.value) p.set('camera', cameraSel.value);
    if (dayInput.value) p.set('date', dayInput.value);
    if (kindSel.value) p.set('kind', kindSel.value);
    if (playing) p.set('play', String(playing.id));
    const q = p.toString();
    window.history.replaceState(null, '', `#/recordings${q ? `?${q}` : ''}`);
  }

  function onFilter() {
    syncHash();
    signature = '';
    list.now();
  }
  cameraSel.addEventListener('change', onFilter);
  dayInput.addEventListener('change', onFilter);
  kindSel.addEventListener('change', onFilter);
  clear.addEventListener('click', () => {
    cameraSel.value = '';
    dayInput.value = '';
    kindSel.value = '';
    onFilter();
  });
  filters.addEventListener('submit', (ev) => ev.preventDefault());

  video.addEventListener('error', () => {
    if (!playing) return;
    const code = video.error?.code;
    playerError.textContent = code === 4
      ? `This browser cannot play this clip (${playing.video_codec}). Download it and play it with VLC or ffplay.`
      : `The clip could not be loaded: ${video.error?.message || 'network error'}.`;
    playerError.hidden = false;
  });
  toMotion.addEventListener('click', () => {
    if (playing) video.currentTime = playing.pre_roll_secs;
  });

  /** Plays a clip; `from` (seconds) starts it there, e.g. at the motion (its pre-roll's end). */
  function play(r, autoplay = true, from = 0) {
    playing = r;
    timeline.select(r.id);
    player.hidden = false;
    playerError.hidden = true;
    setText(title, `${r.camera} · ${fmtTime(r.start)}`);
    setText(info, `${fmtSecs(r.duration_secs)} · motion at ${fmtSecs(r.pre_roll_secs)} (the pre-roll) · ${fmtBytes(r.bytes)}`);
    video.src = fileUrl(r.id);
    if (from > 0) {
      video.addEventListener('loadedmetadata', () => {
        if (playing === r) video.currentTime = Math.min(from, video.duration || from);
      }, { once: true });
    }
    download.href = fileUrl(r.id);
    download.setAttribute('download', fileName(r));
    if (autoplay) video.play().catch(() => { /* shown by the error event, or paused by policy */ });
    for (const tr of tbody.children) tr.classList.toggle('playing', Number(tr.dataset.id) === r.id);
    syncHash();
    player.scrollIntoView({ block: 'nearest' });
  }

  function stopPlaying() {
    playing = null;
    timeline.select(null);
    video.pause();
    video.removeAttribute('src');
    video.load();
    player.hidden = true;
    syncHash();
  }

  async function protect(r, btn) {
    btn.disabled = true;
    try {
      const res = await api(`/api/recordings/${r.id}/protect`, { method: 'POST', body: { protected: !r.protected } });
      r.protected = res.protected;
      signature = '';
      render();
    } catch (e) {
      errors.show(e);
    } finally {
      btn.disabled = false;
    }
  }

  async function remove(r, btn) {
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Delete the clip of ${r.camera} from ${fmtTime(r.start)}? This cannot be undone.`)) return;
    btn.disabled = true;
    try {
      await api(`/api/recordings/${r.id}`, { method: 'DELETE' });
      if (playing?.id === r.id) stopPlaying();
      rows = rows.filter((x) => x.id !== r.id);
      render();
      errors.clear();
    } catch (e) {
      errors.show(e);
      btn.disabled = false;
    }
  }

  // Where a clip's bytes are, with a clip store (docs/cluster.md): nothing said for local ones.
  function storeBadge(r) {
    if (!r.store_status || r.store_status === 'local') return null;
    const text = r.store_status === 'uploading' ? 'uploading' : r.local ? 'stored' : 'in store only';
    return [' ', h('span', { class: `badge store-${r.store_status}`, text,
      title: r.store_status === 'uploading' ? 'being copied to the clip store' : 'the clip store has it' })];
  }

  function row(r) {
    const cell = (label, ...c) => h('td', { dataset: { label } }, ...c);
    const playBtn = h('button', { type: 'button', class: 'play primary', text: 'Play' });
    playBtn.addEventListener('click', () => play(r));
    const protBtn = h('button', { type: 'button', class: 'protect admin-only', 'aria-pressed': String(r.protected),
      text: r.protected ? 'Protected' : 'Protect', title: 'Protected clips are never removed by retention' });
    protBtn.addEventListener('click', () => protect(r, protBtn));
    const delBtn = h('button', { type: 'button', class: 'delete danger admin-only', text: 'Delete',
      disabled: r.status === 'recording', title: r.status === 'recording' ? 'still being written' : null });
    delBtn.addEventListener('click', () => remove(r, delBtn));
    const dl = h('a', { class: 'button', href: fileUrl(r.id), download: fileName(r), text: 'Download' });
    // The clip's picture (the frame at its motion); clicking it plays from there.
    const pic = h('img', { class: 'thumb', loading: 'lazy', src: thumbUrl(r.id), alt: `${r.camera} at ${fmtTime(r.start)}`, width: 160, height: 90 });
    pic.addEventListener('error', () => pic.replaceWith(h('span', { class: 'thumb none muted', text: 'no picture' })));
    pic.addEventListener('click', () => play(r, true, r.pre_roll_secs));
    return h('tr', { dataset: { id: r.id }, class: playing?.id === r.id ? 'playing' : null },
      cell('Picture', pic),
      cell('Start', h('span', { class: 'when', text: fmtTime(r.start) })),
      cell('Camera', h('a', { href: `#/camera/${enc(r.camera)}`, text: r.camera })),
      cell('Length', fmtSecs(r.duration_secs)),
      cell('Pre-roll', h('span', { class: 'preroll', text: fmtSecs(r.pre_roll_secs) })),
      cell('Size', fmtBytes(r.bytes)),
      cell('Video', r.video_codec ? `${r.video_codec} ${r.width}×${r.height}` : '–'),
      cell('Events', h('span', { class: 'kinds-cell' }, kindBadges(r.kinds))),
      cell('Trigger', h('span', { class: 'muted', text: r.trigger || '–' }),
        r.status === 'complete' ? null : [' ', h('span', { class: `badge status-${r.status}`, text: r.status })],
        storeBadge(r)),
      h('td', { class: 'row-actions' }, playBtn, dl, protBtn, delBtn));
  }

  function render() {
    const sig = JSON.stringify(rows.map((r) => [r.id, r.status, r.protected, r.bytes, r.kinds, r.store_status, r.local]));
    if (sig === signature) return;
    signature = sig;
    tbody.replaceChildren(...rows.map(row));
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    setText(count, rows.length >= LIMIT ? `the newest ${LIMIT} clips` : `${rows.length} clip${rows.length === 1 ? '' : 's'}`);
  }

  async function loadCameras() {
    const { cameras } = await api('/api/cameras');
    cameraNames = cameras.map((c) => c.name);
    for (const c of cameras) cameraSel.append(h('option', { value: c.name, text: c.name }));
    cameraSel.value = params.get('camera') || '';
  }

  let first = true;
  async function loadClips() {
    const q = new URLSearchParams({ limit: String(LIMIT) });
    if (cameraSel.value) q.set('camera', cameraSel.value);
    if (kindSel.value) q.set('kind', kindSel.value);
    if (dayInput.value) {
      const [from, to] = dayRange(dayInput.value);
      q.set('from', from);
      q.set('to', to);
    }
    ({ recordings: rows } = await api(`/api/recordings?${q}`));
    render();
    await loadTimeline();
    if (first) {
      first = false;
      const r = wantPlay && rows.find((x) => x.id === wantPlay);
      if (r) play(r, false);
    }
  }

  /** The timeline's day: the chosen one, else today. Its clips come in one request. */
  async function loadTimeline() {
    const day = dayInput.value || localDay(new Date());
    const [from, to] = dayRange(day);
    const q = new URLSearchParams({ limit: '10000', from, to });
    if (cameraSel.value) q.set('camera', cameraSel.value);
    if (kindSel.value) q.set('kind', kindSel.value);
    const { recordings } = await api(`/api/recordings?${q}`);
    const cams = cameraSel.value ? [cameraSel.value] : cameraNames;
    // A camera removed from the config keeps its clips: give it a row too.
    const extra = [...new Set(recordings.map((r) => r.camera))].filter((c) => !cams.includes(c)).sort();
    setText(timelineTitle, `Timeline of ${dayInput.value ? day : `today (${day})`}`);
    timeline.update(day, recordings, [...cams, ...extra]);
    if (playing) timeline.select(playing.id);
  }

  let list = { now() {}, stop() {} };
  let stopped = false;
  loadCameras().catch((e) => errors.show(e)).finally(() => {
    if (!stopped) list = poll(loadClips, 5000, errors);
  });
  dayInput.max = localDay(new Date());
  return {
    stop() {
      stopped = true;
      list.stop();
      timeline.destroy();
      video.pause();
    },
  };
}
