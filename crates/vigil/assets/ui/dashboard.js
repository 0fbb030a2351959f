// The dashboard: a card per camera (its live picture, recorder state, stream, ONVIF subscription
// health, pre-buffer fill and its recent graph) updated every second, and the pool's memory over
// time.

import { api, enc } from './api.js';
import { Chart } from './chart.js';
import { ago, card, errorLine, fmtBytes, fmtSecs, h, kindBadges, meter, poll, setBadge, setText } from './dom.js';
import * as history from './history.js';
import { canPlay, liveView, unsupportedMessage } from './live.js';

/** ONVIF health as one line, and whether it looks healthy. */
export function onvifLine(o) {
  if (!o) return ['not configured', 'muted'];
  const parts = [o.state];
  if (o.state === 'subscribed') parts.push(`pulled ${ago(o.last_pull_at)}`);
  if (o.state === 'backoff' && o.backoff_ms !== null) parts.push(`retry in ${fmtSecs(o.backoff_ms / 1000, 0)}`);
  if (o.renewals) parts.push(`${o.renewals} renewals`);
  if (o.errors) parts.push(`${o.errors} errors`);
  return [parts.join(' · '), o.state === 'subscribed' ? 'ok' : 'warn'];
}

export function streamLine(st) {
  if (!st.up) return ['down', 'warn'];
  const codec = st.video_codec ? `${st.video_codec} ${st.width}×${st.height}` : 'no video yet';
  return [`up · ${codec}`, 'ok'];
}

/** Shows the event kinds on now ("person") as badges; rebuilt only when they change. */
export function setKinds(el, kinds) {
  const sig = (kinds || []).join(',');
  if (el.dataset.kinds === sig) return;
  el.dataset.kinds = sig;
  el.replaceChildren(...kindBadges(kinds));
}

/**
 * Starts a camera's live view once the API says it has a stream (so no request is made that can
 * only be refused), or says plainly that this browser can't play its codecs. Call on every poll.
 */
export function syncLive(live, cam) {
  const codecs = cam.live?.codecs;
  if (!codecs || live.started) return;
  live.started = true;
  if (canPlay(codecs)) live.player.start();
  else live.player.status('unsupported', unsupportedMessage(codecs));
}

function cameraCard(name) {
  const live = liveView(name);
  live.player.status('waiting', "Waiting for the camera's stream…");
  const el = {
    live,
    badge: h('span', { class: 'badge' }),
    now: h('span', { class: 'kinds-now', 'aria-label': 'Events now' }),
    stream: h('dd'),
    onvif: h('dd'),
    clips: h('dd'),
    fill: meter(`pre-buffer of ${name}`),
    chart: new Chart({ label: `Pre-buffer of ${name} over time`, format: fmtBytes, bytes: true, height: 110 }),
  };
  el.root = h('article', { class: 'card cam', dataset: { camera: name } },
    h('header', { class: 'cam-head' },
      h('a', { class: 'cam-name', href: `#/camera/${enc(name)}`, text: name }), el.now, el.badge),
    h('a', { class: 'live-link', href: `#/camera/${enc(name)}`, title: `${name}: open the camera` }, live.el),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Stream' }), el.stream,
      h('dt', { text: 'ONVIF' }), el.onvif,
      h('dt', { text: 'Clips' }), el.clips),
    h('div', { class: 'label' }, 'Pre-buffer'), el.fill.el, el.chart.el);
  return el;
}

export function mount(main) {
  const errors = errorLine();
  const alerts = h('div', { class: 'alerts', hidden: true });
  const grid = h('div', { class: 'cams' });
  const poolText = h('p', { class: 'summary' });
  const poolMeter = meter('pool memory used');
  const poolChart = new Chart({ label: 'Pool memory over time', format: fmtBytes, bytes: true });
  main.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Cameras' }),
      h('div', { class: 'head-actions' }, h('a', { class: 'button admin-only', id: 'add-camera', href: '#/cameras/new', text: 'Add camera' }))),
    errors.el, alerts, grid,
    card('Pool memory', poolText, poolMeter.el, poolChart.el),
  );
  const cards = new Map();
  const windows = new Map(); // camera → pre_buffer_secs

  async function loadWindow(name) {
    const c = await api(`/api/motion_recording/config/${enc(name)}`);
    windows.set(name, c.pre_buffer_secs);
  }

  async function loadCameras() {
    const { cameras } = await api('/api/cameras');
    if (!cameras.length) setText(grid, 'No cameras are configured.');
    for (const cam of cameras) {
      let c = cards.get(cam.name);
      if (!c) {
        c = cameraCard(cam.name);
        cards.set(cam.name, c);
        grid.append(c.root);
        loadWindow(cam.name).then(draw, () => {});
      }
      c.node = cam.node;
      c.reachable = cam.state !== 'elsewhere' && cam.state !== 'unassigned';
      if (!c.reachable) {
        // A camera of the cluster (docs/cluster.md) whose node doesn't answer this one, or that
        // no node holds: where, not how. (A node that answers lists it in full, live view too.)
        setBadge(c.badge, cam.state === 'elsewhere' ? 'ELSEWHERE' : 'UNASSIGNED');
        setText(c.stream, cam.node ? `recorded by node ${cam.node}, not answering` : 'no node records it now');
        c.stream.className = cam.node ? 'muted' : 'warn';
        setText(c.clips, '–');
        continue;
      }
      syncLive(c.live, cam);
      setBadge(c.badge, cam.enabled ? cam.state : 'DISABLED');
      setKinds(c.now, cam.active_kinds);
      c.root.classList.toggle('rec', cam.state === 'RECORDING' || cam.state === 'FINALIZING');
      const [stream, sc] = streamLine(cam.stream);
      setText(c.stream, stream);
      c.stream.className = sc;
      c.stream.title = cam.stream.url || '';
      const [onvif, oc] = onvifLine(cam.onvif);
      setText(c.onvif, onvif);
      c.onvif.className = oc;
      c.onvif.title = cam.onvif?.last_error || '';
      setText(c.clips, `${cam.clips_recorded}${cam.current_clip_id ? ` · writing #${cam.current_clip_id}` : ''}${cam.node ? ` · node ${cam.node}` : ''}`);
    }
  }

  let list = [];
  // Other nodes' histories, for the graphs of the cameras they record (a cluster).
  const lists = new Map();
  async function loadHistory() {
    list = await history.refresh();
    const others = new Set([...cards.values()]
      .filter((c) => c.reachable && history.isOther(c.node)).map((c) => c.node));
    await Promise.all([...others].map(async (n) => {
      try {
        lists.set(n, await history.refresh(n));
      } catch {
        // That node is not answering now: its cards keep what they have; the list says why.
      }
    }));
    draw();
  }

  function draw() {
    const last = history.latest();
    if (last) {
      const p = last.pool;
      setText(poolText, `${fmtBytes(p.used_bytes)} used of ${fmtBytes(p.limit_bytes)} · peak ${fmtBytes(p.peak_bytes)}`);
      poolMeter.set(p.used_bytes / p.limit_bytes, `${((100 * p.used_bytes) / p.limit_bytes).toFixed(1)} %`,
        p.used_bytes > 0.9 * p.limit_bytes);
    }
    poolChart.update([
      { label: 'used', cls: 'c0', points: history.series(list, (x) => x.pool.used_bytes) },
      { label: 'peak', cls: 'c1', points: history.series(list, (x) => x.pool.peak_bytes) },
      { label: 'limit', cls: 'c3', dashed: true, reference: true, points: history.series(list, (x) => x.pool.limit_bytes) },
    ]);
    for (const [name, c] of cards) {
      const other = history.isOther(c.node);
      const samples = other ? lists.get(c.node) || [] : list;
      const b = (other ? history.latest(c.node) : last)?.cameras[name];
      if (b) {
        const win = windows.get(name);
        const caption = `${fmtSecs(b.duration_secs)}${win !== undefined ? ` of ${win} s` : ''} · ${fmtBytes(b.bytes)}`;
        c.fill.set(win ? b.duration_secs / win : b.bytes > 0 ? 1 : 0, caption);
      }
      c.chart.update([{ label: 'held', cls: 'c0', points: history.series(samples, (x) => x.cameras[name]?.bytes) }]);
    }
  }

  async function loadAlerts() {
    const st = await api('/api/storage');
    alerts.hidden = !st.alerts.length;
    alerts.replaceChildren(...st.alerts.map((a) => h('p', { class: 'alert' },
      h('b', { text: a.camera ? `${a.camera}: ` : '' }), a.message || a.kind, ' ',
      h('a', { href: '#/storage', text: 'details' }))));
  }

  const pollers = [
    poll(loadCameras, 1000, errors),
    poll(loadHistory, 2000, errors),
    poll(async () => {
      await Promise.all([...cards.keys()].map(loadWindow));
    }, 15000),
    poll(loadAlerts, 10000),
  ];
  return {
    stop() {
      pollers.forEach((p) => p.stop());
      poolChart.destroy();
      cards.forEach((c) => {
        c.chart.destroy();
        c.live.player.stop();
      });
    },
  };
}
