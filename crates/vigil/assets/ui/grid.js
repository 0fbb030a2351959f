// Every camera's live picture at once (#/live): a tile per camera with its name and state, in as
// many columns as fit (the grid's size in the URL: #/live?cols=N). A click opens the camera's
// page; a double click shows the tile full screen.

import { api, enc } from './api.js';
import { setKinds, syncLive } from './dashboard.js';
import { errorLine, h, poll, setBadge } from './dom.js';
import { liveView } from './live.js';

function tile(name) {
  const live = liveView(name);
  live.player.status('waiting', "Waiting for the camera's stream…");
  const badge = h('span', { class: 'badge' });
  const now = h('span', { class: 'kinds-now tile-kinds', 'aria-label': 'Events now' });
  const root = h('article', { class: 'tile', dataset: { camera: name } },
    live.el,
    h('a', { class: 'tile-name', href: `#/camera/${enc(name)}`, text: name }), now, badge);
  live.el.addEventListener('click', () => { location.hash = `#/camera/${enc(name)}`; });
  live.el.addEventListener('dblclick', (ev) => {
    ev.preventDefault();
    if (document.fullscreenElement) document.exitFullscreen?.();
    else root.requestFullscreen?.().catch(() => {});
  });
  return { root, live, badge, now };
}

export function mount(main, [query]) {
  const params = new URLSearchParams(query);
  const errors = errorLine();
  const cols = Math.min(8, Math.max(0, Number(params.get('cols')) || 0));
  const grid = h('div', { class: `live-grid${cols ? ` cols-${cols}` : ''}` });
  const empty = h('p', { class: 'muted', hidden: true, text: 'No cameras are configured.' });
  const size = h('select', { id: 'grid-cols', 'aria-label': 'Columns' },
    [['0', 'Fit'], ...[1, 2, 3, 4, 6].map((n) => [String(n), `${n} across`])]
      .map(([v, t]) => h('option', { value: v, text: t })));
  size.value = String(cols);
  size.addEventListener('change', () => {
    location.hash = size.value === '0' ? '#/live' : `#/live?cols=${size.value}`;
  });
  main.append(h('div', { class: 'page-head' }, h('h1', { text: 'Live' }),
    h('div', { class: 'head-actions' }, h('label', {}, 'Columns ', size))), errors.el, empty, grid);
  const tiles = new Map();

  async function load() {
    const { cameras } = await api('/api/cameras');
    empty.hidden = cameras.length > 0;
    const names = new Set(cameras.map((c) => c.name));
    for (const [name, t] of tiles) {
      if (names.has(name)) continue;
      t.live.player.stop();
      t.root.remove();
      tiles.delete(name);
    }
    for (const cam of cameras) {
      let t = tiles.get(cam.name);
      if (!t) {
        t = tile(cam.name);
        tiles.set(cam.name, t);
        grid.append(t.root);
      }
      syncLive(t.live, cam);
      setBadge(t.badge, cam.enabled ? cam.state : 'DISABLED');
      setKinds(t.now, cam.active_kinds);
      t.root.classList.toggle('rec', cam.state === 'RECORDING' || cam.state === 'FINALIZING');
    }
  }

  const poller = poll(load, 2000, errors);
  return {
    stop() {
      poller.stop();
      tiles.forEach((t) => t.live.player.stop());
    },
  };
}
