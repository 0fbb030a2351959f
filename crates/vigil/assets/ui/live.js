// Live view: a <video> fed through Media Source Extensions from a WebSocket on
// /api/cameras/NAME/live.ws (fragmented MP4 that starts at the camera's newest keyframe, so a
// picture comes at once; see docs/ui.md "Live view"). A WebSocket, not fetch() of live.mp4: a
// browser opens at most six HTTP/1.1 connections to a host and a streaming fetch holds one for
// good, so six cameras on a page would starve its API calls.
//
// - ManagedMediaSource where MediaSource is missing (iPhone Safari).
// - Codecs come from the stream's first message; where MediaSource.isTypeSupported says no (H.265
//   in most browsers) the player says so plainly instead of showing a black box.
// - The picture is kept near the live edge: a jump when it falls more than MAX_LAG behind
//   (a hidden tab, a stall), a slightly faster rate when it drifts a little.
// - Old media is removed from the buffer as it plays, so memory stays flat however long it runs.
// - When the stream ends or fails (a camera's new codec parameters end it, a restart, the network)
//   it reconnects with backoff; no bytes for STALL_MS counts as a failure too.
// - While the tab is hidden nothing is fetched: the server sees no viewer, and the camera goes
//   back to its paced reads (docs/data-flow.md).
//
// Latency measurement: with localStorage 'vigil.live.prft' = '1' the player asks for
// live.ws?prft=1 and keeps on the <video> element `__vigilPrft`: [mediaSecs, wallMs] per video
// fragment (the camera's packet time), which bench/live_browser.mjs compares with the time each
// frame is presented.

import { api, enc, withToken } from './api.js';
import { h } from './dom.js';

const MAX_LAG = 0.6; // seconds behind the newest media before jumping to it
const DRIFT = 0.15; // seconds behind before playing slightly faster
const KEEP_BEHIND = 10; // seconds of played media kept in the buffer
const STALL_MS = 8000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];
const MAX_QUEUED = 8 << 20; // bytes waiting to be appended before the player starts afresh
const VIDEO_TIMESCALE = 90000;
const PRFT_KEEP = 2000;

/** The MediaSource of this browser: the standard one, or Safari's managed one on iPhone. */
function mediaSourceClass() {
  return window.MediaSource || window.ManagedMediaSource || null;
}

/** What a browser without these codecs is told. */
export function unsupportedMessage(codecs) {
  if (/\b(hvc1|hev1)\./.test(codecs)) {
    return "H.265 can't play in this browser. Recordings of this camera download and play in VLC or ffplay.";
  }
  return `This browser can't play this camera's stream (${codecs}).`;
}

/** Whether this browser can play live video with these codecs at all. */
export function canPlay(codecs) {
  const MS = mediaSourceClass();
  return Boolean(MS && MS.isTypeSupported(`video/mp4; codecs="${codecs}"`));
}

/** Reads top-level MP4 boxes across chunk boundaries to find `prft` boxes (measurement only). */
class PrftScanner {
  constructor(video) {
    this.video = video;
    this.skip = 0; // bytes of the current box still to pass
    this.head = new Uint8Array(0); // a box header (or a whole prft) split across chunks
    video.__vigilPrft = video.__vigilPrft || [];
  }

  feed(chunk) {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      // Gather 8 header bytes (32 for a prft, which is read whole).
      const need = this.head.length >= 8 && this.type() === 'prft' ? 32 : 8;
      const take = Math.min(need - this.head.length, chunk.length - i);
      const joined = new Uint8Array(this.head.length + take);
      joined.set(this.head);
      joined.set(chunk.subarray(i, i + take), this.head.length);
      this.head = joined;
      i += take;
      if (this.head.length < need) continue;
      const size = new DataView(this.head.buffer).getUint32(0);
      if (this.type() === 'prft' && need === 8) continue; // now gather the whole box
      if (this.type() === 'prft') this.record();
      if (size < need) {
        // Size 0 (to the end) or 1 (64-bit size) never come from vigil: stop scanning.
        this.skip = Infinity;
      } else {
        this.skip = size - need;
      }
      this.head = new Uint8Array(0);
    }
  }

  type() {
    return String.fromCharCode(...this.head.subarray(4, 8));
  }

  record() {
    const v = new DataView(this.head.buffer);
    if (v.getUint8(8) !== 1 || v.getUint32(12) !== 1) return; // version 1, the video track
    const secs = v.getUint32(16);
    const frac = v.getUint32(20);
    const wallMs = (secs - 2208988800) * 1000 + (frac / 2 ** 32) * 1000;
    const media = Number(v.getBigUint64(24)) / VIDEO_TIMESCALE;
    const list = this.video.__vigilPrft;
    list.push([media, wallMs]);
    if (list.length > PRFT_KEEP) list.splice(0, list.length - PRFT_KEEP);
  }
}

export class LivePlayer {
  /**
   * @param {HTMLVideoElement} video
   * @param {string} camera
   * @param {(state: {kind: string, text: string}) => void} onStatus  kind: connecting | playing
   *   | waiting | unsupported | retry | paused | gone
   */
  constructor(video, camera, onStatus = () => {}) {
    this.video = video;
    this.camera = camera;
    this.onStatus = onStatus;
    this.failures = 0;
    this.session = null;
    this.timer = null;
    this.stopped = true;
    this.firstFrameMs = null;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.disableRemotePlayback = true;
    this.onVisibility = () => {
      if (this.stopped) return;
      if (document.hidden) {
        this.teardown();
        clearTimeout(this.timer);
        this.status('paused', 'Paused while this tab is hidden.');
      } else if (!this.session) {
        this.connect();
      }
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    document.addEventListener('visibilitychange', this.onVisibility);
    if (document.hidden) this.status('paused', 'Paused while this tab is hidden.');
    else this.connect();
  }

  stop() {
    this.stopped = true;
    document.removeEventListener('visibilitychange', this.onVisibility);
    clearTimeout(this.timer);
    this.teardown();
  }

  status(kind, text = '') {
    if (this.lastStatus === `${kind}:${text}`) return;
    this.lastStatus = `${kind}:${text}`;
    this.video.dataset.live = kind;
    this.onStatus({ kind, text });
  }

  /** Ends the current connection and frees its MediaSource. */
  teardown() {
    const s = this.session;
    if (!s) return;
    this.session = null;
    s.closed = true;
    const { ws } = s;
    ws.onmessage = null;
    ws.onclose = null;
    // Closing one still connecting makes the browser log an error: close it once it is open.
    if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close();
    else ws.close();
    clearInterval(s.watchdog);
    if (s.frameCb !== null && this.video.cancelVideoFrameCallback) this.video.cancelVideoFrameCallback(s.frameCb);
    this.video.removeAttribute('src');
    if ('srcObject' in this.video) this.video.srcObject = null;
    this.video.load();
    if (s.url) URL.revokeObjectURL(s.url);
  }

  /** Tries again after a backoff (none for the first failure after a good run). */
  retry(why) {
    this.teardown();
    if (this.stopped) return;
    const base = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    const wait = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.failures += 1;
    this.status('retry', `${why} Retrying in ${(wait / 1000).toFixed(wait < 1000 ? 1 : 0)} s.`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.stopped && !document.hidden) this.connect();
    }, wait);
  }

  connect() {
    this.teardown();
    const MS = mediaSourceClass();
    if (!MS) {
      this.status('unsupported', 'This browser has no Media Source Extensions: live view cannot play here.');
      return;
    }
    const s = {
      ws: null, closed: false, hello: false, queue: [], queued: 0, lastData: performance.now(),
      frameCb: null, sb: null, url: null, played: false,
    };
    this.session = s;
    this.status('connecting', 'Connecting…');
    const prft = localStorageFlag('vigil.live.prft');
    const scanner = prft ? new PrftScanner(this.video) : null;
    const path = withToken(`/api/cameras/${enc(this.camera)}/live.ws${prft ? '?prft=1' : ''}`);
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`);
    ws.binaryType = 'arraybuffer';
    s.ws = ws;
    ws.onmessage = (ev) => {
      if (s.closed) return;
      s.lastData = performance.now();
      if (typeof ev.data === 'string') {
        this.hello(s, MS, ev.data);
        return;
      }
      const chunk = new Uint8Array(ev.data);
      scanner?.feed(chunk);
      s.queue.push(chunk);
      s.queued += chunk.length;
      if (s.queued > MAX_QUEUED) {
        this.retry('The browser fell behind the stream.');
        return;
      }
      this.pump(s);
    };
    ws.onclose = (ev) => {
      if (s.closed) return;
      // Refused before the stream began: a WebSocket doesn't say why, the API does.
      if (!s.hello) {
        this.probe(s);
        return;
      }
      // The stream ended: the camera's new codec parameters, the camera stopped, vigil
      // restarting. After a stream that played, the next try comes at once (the backoff grows
      // only while none plays).
      if (s.played) this.failures = 0;
      this.retry(ev.code === 1001 ? 'vigil is restarting.' : 'The stream ended.');
    };
    s.watchdog = setInterval(() => {
      if (performance.now() - s.lastData > STALL_MS) this.retry('No picture from the camera.');
    }, 1000);
  }

  /** The stream's first message: its codecs. Sets up the MediaSource, or says it can't play. */
  hello(s, MS, text) {
    let info;
    try {
      info = JSON.parse(text);
    } catch {
      this.retry('The server sent something unexpected.');
      return;
    }
    s.hello = true;
    const type = `video/mp4; codecs="${info.codecs}"`;
    if (!MS.isTypeSupported(type)) {
      this.teardown();
      this.status('unsupported', unsupportedMessage(info.codecs));
      return;
    }
    const ms = new MS();
    if (window.ManagedMediaSource && ms instanceof window.ManagedMediaSource) {
      this.video.srcObject = ms;
    } else {
      s.url = URL.createObjectURL(ms);
      this.video.src = s.url;
    }
    ms.addEventListener('sourceopen', () => {
      if (s.closed) return;
      try {
        s.sb = ms.addSourceBuffer(type);
      } catch {
        this.teardown();
        this.status('unsupported', unsupportedMessage(info.codecs));
        return;
      }
      s.sb.mode = 'segments';
      s.sb.addEventListener('updateend', () => this.pump(s));
      s.sb.addEventListener('error', () => s.closed || this.retry('The browser refused the stream.'));
      this.video.addEventListener('error', () => s.closed || this.retry('The browser could not decode the stream.'), { once: true });
      this.watchFrames(s);
      this.pump(s);
    }, { once: true });
  }

  /** Why the live view was refused, from the API (which also asks for the token on a 401). */
  async probe(s) {
    try {
      const { cameras } = await api('/api/cameras');
      if (this.session !== s) return;
      const cam = cameras.find((c) => c.name === this.camera);
      if (!cam) {
        this.teardown();
        this.status('gone', `No camera named ${this.camera}.`);
      } else if (!cam.live?.codecs) {
        this.retry("Waiting for the camera's stream.");
      } else {
        this.retry('Live view failed.');
      }
    } catch (e) {
      if (this.session === s) this.retry(`Live view failed: ${e.message}.`);
    }
  }

  /** Appends what has arrived (one append at a time), trims played media, keeps to the live edge. */
  pump(s) {
    const sb = s.sb;
    if (s.closed || !sb || sb.updating) return;
    const v = this.video;
    const b = sb.buffered;
    if (b.length && v.currentTime - b.start(0) > KEEP_BEHIND * 2) {
      sb.remove(b.start(0), v.currentTime - KEEP_BEHIND);
      return; // updateend calls pump again
    }
    if (b.length) this.chase(s, b.end(b.length - 1));
    if (!s.queue.length) return;
    const data = s.queue.length === 1 ? s.queue[0] : concat(s.queue, s.queued);
    s.queue = [];
    s.queued = 0;
    try {
      sb.appendBuffer(data);
    } catch (e) {
      if (e.name === 'QuotaExceededError' && b.length) {
        // Full: drop everything played and take this data again.
        s.queue = [data];
        s.queued = data.length;
        sb.remove(b.start(0), Math.max(b.start(0) + 0.1, v.currentTime - 1));
      } else {
        this.retry(`The browser refused the stream (${e.message}).`);
      }
    }
  }

  /** Stays near the newest media: starts at once, jumps when far behind, speeds up a little when near. */
  chase(s, end) {
    const v = this.video;
    const lag = end - v.currentTime;
    if (v.readyState >= 2 && lag > MAX_LAG) v.currentTime = Math.max(end - 0.1, 0);
    const rate = lag > DRIFT ? 1.1 : 1.0;
    if (v.playbackRate !== rate) v.playbackRate = rate;
    if (v.paused && v.readyState >= 2) v.play().catch(() => { /* autoplay refused: the controls show it */ });
  }

  /** Marks the first presented frame (time to first picture) and the state "playing". */
  watchFrames(s) {
    const v = this.video;
    const first = () => {
      if (s.closed) return;
      s.played = true;
      if (this.firstFrameMs === null) this.firstFrameMs = performance.now();
      v.dataset.firstFrameMs = String(Math.round(this.firstFrameMs));
      this.status('playing');
    };
    if (v.requestVideoFrameCallback) s.frameCb = v.requestVideoFrameCallback(first);
    else v.addEventListener('playing', first, { once: true });
  }
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function localStorageFlag(key) {
  try {
    return localStorage.getItem(key) === '1';
  } catch {
    return false;
  }
}

/**
 * A live tile: the <video> and a line over it saying what is wrong when there is no picture.
 * Returns {el, video, player}; the caller starts and stops the player.
 */
export function liveView(camera, { large = false } = {}) {
  const video = h('video', { class: 'live', muted: true, autoplay: true, playsinline: true, dataset: { liveCamera: camera } });
  const msg = h('p', { class: 'live-msg', role: 'status' });
  const el = h('div', { class: `live-box${large ? ' large' : ''}` }, video, msg);
  const player = new LivePlayer(video, camera, ({ kind, text }) => {
    msg.textContent = kind === 'playing' ? '' : text;
    msg.hidden = kind === 'playing';
    el.dataset.state = kind;
  });
  return { el, video, player };
}
