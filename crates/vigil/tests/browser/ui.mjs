// Drives vigil's web UI in headless Chromium (Debian's /usr/bin/chromium through playwright-core,
// which downloads no browser). Started by crates/vigil/tests/ui.rs, one scenario per test, against
// a vigil that test started:
//
//   node ui.mjs SCENARIO BASE_URL SCREENSHOT_DIR     (env VIGIL_TOKEN: the API token, if any)
//
// Prints one JSON object (what it saw) as its last stdout line and exits 0, or prints why it
// failed on stderr and exits 1. Every wait polls with a deadline; nothing sleeps. Any console
// error or uncaught page error fails the scenario, except the HTTP statuses a step provokes on
// purpose (a 400 for an invalid setting, 401s before the token is entered), which the browser
// itself reports on the console.

import { chromium } from 'playwright-core';

const [scenario, base, shots] = process.argv.slice(2);
const TOKEN = process.env.VIGIL_TOKEN || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 20_000; // the default deadline of a wait

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[ui ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

const problems = [];
/** Console errors a step expects: {status, url} matched once each (or while `open`). */
const expected = [];

function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const url = m.location()?.url || '';
    const i = expected.findIndex((e) => text.includes(`status of ${e.status}`) && url.includes(e.url));
    if (i >= 0) {
      if (!expected[i].open) expected.splice(i, 1);
      return;
    }
    problems.push(`${label} console error: ${text} (${url})`);
  });
  page.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`));
}

async function shot(page, name, fullPage = true) {
  const path = `${shots}/${name}.png`;
  await page.screenshot({ path, fullPage });
  log(`screenshot ${path}`);
}

/** Polls fn (in the page) until it returns a truthy value; returns it. */
async function until(page, what, fn, arg, timeout = T) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout, polling: 100 });
    return await h.jsonValue();
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
}

// --- scenarios -------------------------------------------------------------------------------

/** `vigil demo`: the cameras' badges change state live; pool graph; storage; phone layout. */
async function dashboard(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'desktop');
  await page.goto(`${base}/`);
  await until(page, 'three camera cards', () => document.querySelectorAll('[data-camera]').length === 3);
  out.cameras = await page.$$eval('[data-camera]', (els) => els.map((e) => e.dataset.camera));
  // Every text each badge shows, in order, as the page updates it.
  await page.evaluate(() => {
    window.seen = {};
    for (const card of document.querySelectorAll('[data-camera]')) {
      const badge = card.querySelector('.badge');
      const list = [badge.textContent];
      window.seen[card.dataset.camera] = list;
      new MutationObserver(() => {
        if (list[list.length - 1] !== badge.textContent) list.push(badge.textContent);
      }).observe(badge, { childList: true, characterData: true, subtree: true });
    }
  });
  // The demo's scripted motion (every camera, 2 s apart, from 8 s after its start) turns some
  // camera's badge from BUFFERING to RECORDING: whichever the page sees do it first.
  out.changed = await until(page, 'a badge going from BUFFERING to RECORDING', () => {
    for (const [name, list] of Object.entries(window.seen)) {
      const b = list.indexOf('BUFFERING');
      if (b >= 0 && list.indexOf('RECORDING', b) > b) return name;
    }
    return null;
  }, undefined, 45_000);
  log(`${out.changed}: BUFFERING -> RECORDING`);
  out.seen = await page.evaluate(() => window.seen);
  out.recording_card_marked = await page.$eval(`[data-camera="${out.changed}"]`, (e) => e.classList.contains('rec'));
  // Pool: summary, and a graph with samples (the server samples every 2 s).
  out.pool_summary = await until(page, 'pool summary', () => {
    const t = document.querySelector('.summary')?.textContent || '';
    return /used of 50\.0 MiB/.test(t) && t;
  });
  out.pool_points = await until(page, 'pool graph with 3 samples', () => {
    const line = [...document.querySelectorAll('.card .chart')].pop()?.querySelector('polyline.c0');
    const n = line ? line.getAttribute('points').split(' ').length : 0;
    return n >= 3 && n;
  });
  out.fill_caption = await until(page, 'a buffer fill caption', (sel) => {
    const t = document.querySelector(sel)?.textContent || '';
    return /of 5 s/.test(t) && t;
  }, '[data-camera="yard-h265"] .meter-text');
  out.stream_line = await page.$eval('[data-camera="yard-h265"] dd', (e) => e.textContent);
  out.onvif_line = await page.$eval('[data-camera="yard-h265"] dd:nth-of-type(2)', (e) => e.textContent);
  out.overflow_desktop = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot(page, 'dashboard');

  // The camera page of a demo camera: live badge, stats, its graphs with history.
  await page.click('[data-camera="yard-h265"] .cam-name');
  await until(page, 'the camera page form', () => document.querySelector('#f-pre_buffer_secs')?.value === '5');
  await until(page, 'buffer graph samples', () => {
    const l = document.querySelector('.chart polyline.c0');
    return l && l.getAttribute('points').split(' ').length >= 3;
  });
  await until(page, 'buffer stats', () => /GOPs/.test(document.querySelector('main').textContent));
  out.camera_badge = await page.$eval('.page-head .badge', (e) => e.textContent);
  await shot(page, 'camera');

  // Storage: disk usage, per-camera table, alerts.
  await page.click('nav a[data-nav="storage"]');
  await until(page, 'the storage table', () => document.querySelectorAll('.per-camera tbody tr').length === 3);
  await until(page, 'the disk meter', () => /% used/.test(document.querySelector('.meter-text')?.textContent || ''));
  out.storage_alerts = await page.$eval('main .card', (e) => e.textContent);
  await shot(page, 'storage');
  await ctx.close();

  // A phone: one column, nothing wider than the screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const pp = await phone.newPage();
  watch(pp, 'phone');
  await pp.goto(`${base}/`);
  await until(pp, 'three camera cards (phone)', () => document.querySelectorAll('[data-camera] .badge').length === 3
    && [...document.querySelectorAll('[data-camera] .badge')].every((b) => b.textContent !== 'IDLE'));
  await until(pp, 'pool graph (phone)', () => document.querySelectorAll('polyline').length >= 4);
  out.overflow_phone = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  out.phone_card_width = await pp.$eval('[data-camera]', (e) => e.getBoundingClientRect().width);
  await shot(pp, 'dashboard-phone');
  await phone.close();
  return out;
}

/** The settings form: a change is saved; a refused value is shown at its field. */
async function settings(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page, 'settings');
  await page.goto(`${base}/#/camera/back%20yard`);
  await until(page, 'the form loaded', () => document.querySelector('#f-pre_buffer_secs')?.value === '2');
  await page.fill('#f-pre_buffer_secs', '7');
  await page.click('form.settings button[type=submit]');
  out.saved_status = await until(page, 'Saved', () => {
    const t = document.querySelector('.form-status')?.textContent || '';
    return t.startsWith('Saved') && t;
  });
  out.value_after_save = await page.inputValue('#f-pre_buffer_secs');

  // Record on: only people and vehicles.
  for (const k of ['motion', 'animal', 'face', 'package', 'line_crossing', 'intrusion', 'tamper', 'sound']) {
    await page.uncheck(`#f-record_on input[value="${k}"]`);
  }
  await page.click('form.settings button[type=submit]');
  out.record_on_saved = await until(page, 'Saved (record_on)', () => {
    const t = document.querySelector('.form-status')?.textContent || '';
    return t.startsWith('Saved') && [...document.querySelectorAll('#f-record_on input:checked')].map((b) => b.value);
  });

  // Out of range: the server refuses it (400) and the page shows why, at the field.
  expected.push({ status: 400, url: '/api/motion_recording/config/' });
  await page.fill('#f-pre_buffer_secs', '90');
  await page.click('form.settings button[type=submit]');
  out.pre_error = await until(page, 'the error at pre_buffer_secs', () =>
    document.querySelector('[data-field="pre_buffer_secs"] .field-error')?.textContent);
  out.pre_invalid = await page.getAttribute('#f-pre_buffer_secs', 'aria-invalid');
  out.pre_focused = await page.evaluate(() => document.activeElement?.id);
  out.other_errors = await page.$$eval('.field-error', (els) => els.filter((e) => e.textContent && !e.closest('[data-field="pre_buffer_secs"]')).length);
  out.status_after_error = await page.textContent('.form-status');
  await shot(page, 'camera-invalid');

  // Typing again clears the mark; another field's error lands at that field.
  await page.fill('#f-pre_buffer_secs', '7');
  out.pre_error_cleared = await page.$eval('[data-field="pre_buffer_secs"] .field-error', (e) => e.textContent === '');
  expected.push({ status: 400, url: '/api/motion_recording/config/' });
  await page.fill('#f-post_buffer_secs', '500');
  await page.click('form.settings button[type=submit]');
  out.post_error = await until(page, 'the error at post_buffer_secs', () =>
    document.querySelector('[data-field="post_buffer_secs"] .field-error')?.textContent);
  await ctx.close();
  return out;
}

/** With an API token: the page asks for it; clips filter, play, seek, protect, delete. */
async function recordings(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page, 'recordings');
  page.on('dialog', (d) => d.accept());
  // Until the token is entered, every API call answers 401 (and the browser says so).
  const before = { status: 401, url: '/api/', open: true };
  expected.push(before);
  await page.goto(`${base}/#/recordings`);
  await until(page, 'the token dialog', () => document.querySelector('#token-dialog')?.open);
  await page.fill('#token-input', TOKEN);
  await page.click('#token-form button[type=submit]');
  await until(page, 'two clips listed', () => document.querySelectorAll('tr[data-id]').length === 2);
  expected.splice(expected.indexOf(before), 1);
  out.token_stored = await page.evaluate(() => localStorage.getItem('vigil.token'));
  const rows = await page.$$eval('tr[data-id]', (trs) => trs.map((tr) => ({
    id: Number(tr.dataset.id),
    camera: tr.querySelector('[data-label="Camera"]').textContent,
    preroll: tr.querySelector('.preroll').textContent,
    kinds: [...tr.querySelectorAll('.kind')].map((k) => k.textContent),
  })));
  out.rows = rows;
  const front = rows.find((r) => r.camera === 'front');
  const back = rows.find((r) => r.camera === 'back yard');

  // The day's timeline: a bar per clip; zoomed to a minute each shows its pre-roll shaded; a click
  // plays the clip from the motion; Left / Right step to the previous / next clip.
  await until(page, 'two bars on the timeline', () => document.querySelectorAll('.tl-clip').length === 2);
  out.timeline_day_bars = await page.$$eval('.tl-clip .tl-bar', (bs) => bs.map((b) => Number(b.getAttribute('width'))));
  await page.selectOption('.tl-zoom', String(60e3));
  out.timeline_pre_px = await until(page, 'pre-roll shaded on both bars', () => {
    const w = [...document.querySelectorAll('.tl-clip')].map((g) => Number(g.querySelector('.tl-pre')?.getAttribute('width') || 0));
    return w.length === 2 && w.every((x) => x > 5) && w;
  });
  const clipsApi = await apiGet('/api/recordings');
  const backApi = clipsApi.recordings.find((r) => r.id === back.id);
  const frontApi = clipsApi.recordings.find((r) => r.id === front.id);
  await page.$eval('#player-video', (v) => {
    window.tlSeeked = null;
    v.addEventListener('seeked', () => { window.tlSeeked = v.currentTime; }, { once: true });
  }).catch(() => {});
  await page.click(`.tl-clip[data-id="${back.id}"] .tl-bar`);
  out.timeline_seeked = await until(page, 'the clip played from its motion', () => {
    const v = document.querySelector('#player-video');
    return window.tlSeeked !== null && v.readyState >= 2 && { at: window.tlSeeked, now: v.currentTime };
  });
  out.timeline_pre_roll = backApi.pre_roll_secs;
  out.timeline_playing = await page.$eval('tr.playing', (tr) => Number(tr.dataset.id));
  out.timeline_selected = await page.$eval('.tl-clip.sel', (g) => Number(g.dataset.id));
  const earlier = Date.parse(frontApi.start) < Date.parse(backApi.start) ? front.id : back.id;
  const later = earlier === front.id ? back.id : front.id;
  await page.keyboard.press('ArrowLeft');
  out.after_left = await until(page, 'ArrowLeft: the earlier clip', () => Number(document.querySelector('tr.playing')?.dataset.id));
  await page.keyboard.press('ArrowRight');
  out.after_right = await until(page, 'ArrowRight: the later clip', (prev) => {
    const id = Number(document.querySelector('tr.playing')?.dataset.id);
    return id !== prev && id;
  }, out.after_left);
  out.timeline_order = [earlier, later];
  await shot(page, 'timeline', false);

  // The kind filter: no clip saw a person; both saw motion.
  await page.selectOption('#filter-kind', 'person');
  await until(page, 'no person clips', () => document.querySelectorAll('tr[data-id]').length === 0
    && document.querySelectorAll('.tl-clip').length === 0);
  out.hash_kind = await page.evaluate(() => location.hash);
  await page.selectOption('#filter-kind', 'motion');
  await until(page, 'two motion clips', () => document.querySelectorAll('tr[data-id]').length === 2);
  await page.selectOption('#filter-kind', '');
  await until(page, 'two clips, no kind filter', () => document.querySelectorAll('tr[data-id]').length === 2);

  // Filters: by camera, by day (today has both; yesterday none).
  await page.selectOption('#filter-camera', 'front');
  await until(page, 'only front listed', () => {
    const c = [...document.querySelectorAll('tr[data-id] [data-label="Camera"]')].map((e) => e.textContent);
    return c.length === 1 && c[0] === 'front';
  });
  out.hash_after_filter = await page.evaluate(() => location.hash);
  const today = await page.evaluate(() => {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  });
  const yesterday = await page.evaluate(() => {
    const d = new Date();
    d.setDate(d.getDate() - 1);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  });
  await page.fill('#filter-date', yesterday);
  await until(page, 'no clips yesterday', () => document.querySelectorAll('tr[data-id]').length === 0
    && !document.querySelector('.card p.muted')?.hidden);
  await page.fill('#filter-date', today);
  await until(page, 'front clip today', () => document.querySelectorAll('tr[data-id]').length === 1);

  // Play the H.264 clip: frames decode and time advances.
  await page.click(`tr[data-id="${front.id}"] button.play`);
  await until(page, 'video readyState >= 2', () => document.querySelector('#player-video').readyState >= 2);
  out.video_src_has_token = await page.$eval('#player-video', (v) => v.currentSrc.includes('?token='));
  const startAt = await page.$eval('#player-video', (v) => v.currentTime);
  out.played_to = await until(page, 'currentTime advancing', (from) => {
    const v = document.querySelector('#player-video');
    return !v.paused && v.currentTime > from + 0.5 && v.currentTime;
  }, startAt);
  out.duration = await page.$eval('#player-video', (v) => v.duration);
  // Seek near the end (a Range request for a later part of the file) and get there.
  const target = Math.max(0.5, out.duration - 1.2);
  await page.$eval('#player-video', (v, t) => {
    v.pause();
    window.seekedTo = null;
    v.addEventListener('seeked', () => { window.seekedTo = v.currentTime; }, { once: true });
    v.currentTime = t;
  }, target);
  out.seeked_to = await until(page, `seeked to ${target.toFixed(2)}`, (t) => {
    const v = document.querySelector('#player-video');
    return window.seekedTo !== null && v.readyState >= 2 && Math.abs(v.currentTime - t) < 0.1 && v.currentTime;
  }, target);
  out.seek_target = target;
  out.player_error_hidden = await page.$eval('.player .alert', (e) => e.hidden);

  // Protect the clip.
  await page.click(`tr[data-id="${front.id}"] button.protect`);
  await until(page, 'protected', (id) => document.querySelector(`tr[data-id="${id}"] button.protect`)?.getAttribute('aria-pressed') === 'true', front.id);

  // Delete the other camera's clip through the page.
  await page.click('form.filters button');
  await until(page, 'both clips again', () => document.querySelectorAll('tr[data-id]').length === 2);
  await shot(page, 'recordings');
  await page.click(`tr[data-id="${back.id}"] button.delete`);
  await until(page, 'the deleted row gone', (id) => !document.querySelector(`tr[data-id="${id}"]`)
    && document.querySelectorAll('tr[data-id]').length === 1, back.id);
  out.deleted = back.id;
  out.api_after_delete = await page.evaluate(async ({ id, token }) => {
    const r = await fetch(`/api/recordings/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    return r.status;
  }, { id: back.id, token: TOKEN });
  // That 404 is the answer we want; the browser logs it all the same.
  problems.splice(0, problems.length, ...problems.filter((p) => !(p.includes('status of 404') && p.includes(`/api/recordings/${back.id}`))));
  out.protected_id = front.id;
  await ctx.close();

  // A phone, with the token already stored: rows become cards, nothing wider than the screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await phone.addInitScript((t) => localStorage.setItem('vigil.token', t), TOKEN);
  const pp = await phone.newPage();
  watch(pp, 'phone');
  await pp.goto(`${base}/#/recordings?play=${front.id}`);
  await until(pp, 'the clip listed (phone)', () => document.querySelectorAll('tr[data-id]').length === 1);
  await until(pp, 'the player (phone)', () => document.querySelector('#player-video').readyState >= 2);
  out.phone_asked_token = await pp.evaluate(() => document.querySelector('#token-dialog').open);
  out.overflow_phone = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot(pp, 'recordings-phone');
  await phone.close();
  return out;
}

/** JSON of an API path, read by this script (not the page). */
async function apiGet(path) {
  const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
  const r = await fetch(`${base}${path}`, { headers });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}

/** Polls fn() (in this script) until it returns a truthy value; returns it. */
async function untilHere(what, fn, timeout = T) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Live viewers per camera, as the API counts them. */
async function viewers() {
  const { cameras } = await apiGet('/api/cameras');
  return Object.fromEntries(cameras.map((c) => [c.name, c.live.viewers]));
}

/**
 * Waits until the <video> at `sel` shows a picture and plays: readyState >= 2 and currentTime
 * advancing by a second (media time, so it is the decoder going, not a clock). Returns what it saw.
 */
async function plays(page, sel, what) {
  const from = await until(page, `${what}: a picture`, (q) => {
    const v = document.querySelector(q);
    return v && v.readyState >= 2 && { t: v.currentTime };
  }, sel, 30_000);
  return until(page, `${what}: playing on`, ([q, t]) => {
    const v = document.querySelector(q);
    return v && !v.paused && v.readyState >= 2 && v.currentTime > t + 1
      && { readyState: v.readyState, currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight };
  }, [sel, from.t], 30_000);
}

/** Pretends the tab was hidden (or shown again): what a browser does when the user switches tabs. */
async function setHidden(page, hidden) {
  await page.evaluate((hide) => {
    Object.defineProperty(document, 'hidden', { value: hide, configurable: true });
    Object.defineProperty(document, 'visibilityState', { value: hide ? 'hidden' : 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** Live view on the demo: the dashboard's cards, the grid, a camera page with sound; hidden tabs stop. */
async function live(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page, 'live');
  await page.goto(`${base}/`);
  const { cameras } = await apiGet('/api/cameras');
  out.codecs = Object.fromEntries(cameras.map((c) => [c.name, c.live.codecs]));
  out.supported = await page.evaluate((cs) => Object.fromEntries(Object.entries(cs)
    .map(([n, c]) => [n, MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`)])), out.codecs);
  const h264 = cameras.filter((c) => c.stream.video_codec === 'h264').map((c) => c.name);
  const h265 = cameras.filter((c) => c.stream.video_codec === 'h265').map((c) => c.name);
  out.h264 = h264;
  out.dashboard = {};
  for (const name of h264) {
    out.dashboard[name] = await plays(page, `.cam[data-camera="${name}"] video.live`, `dashboard ${name}`);
  }
  // Time to the first picture, from the page's start (a figure, not a test: see the benchmark).
  out.first_frame_ms = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('video.live')]
    .filter((v) => v.dataset.firstFrameMs).map((v) => [v.dataset.liveCamera, Number(v.dataset.firstFrameMs)])));
  out.h265_message = {};
  for (const name of h265) {
    if (out.supported[name]) {
      out.dashboard[name] = await plays(page, `.cam[data-camera="${name}"] video.live`, `dashboard ${name}`);
    } else {
      out.h265_message[name] = await until(page, `${name}: says H.265 can't play`, (n) => {
        const box = document.querySelector(`.cam[data-camera="${n}"] .live-box`);
        return box?.dataset.state === 'unsupported' && box.querySelector('.live-msg').textContent;
      }, name);
    }
  }
  out.viewers_dashboard = await untilHere('one viewer per playing camera', async () => {
    const v = await viewers();
    return h264.every((n) => v[n] === 1) && v;
  });
  // What a camera sees now shows on its card: a person reported through the API.
  const post = (path, body) => fetch(`${base}${path}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => r.status);
  out.person_post = await post(`/api/cameras/${h264[0]}/motion`, { action: 'start', kind: 'person' });
  out.kinds_now = await until(page, 'a person badge on the card', (n) => {
    const t = [...document.querySelectorAll(`.cam[data-camera="${n}"] .kinds-now .kind`)].map((k) => k.textContent);
    return t.includes('person') && t;
  }, h264[0]);
  await shot(page, 'live-dashboard', false);
  await post(`/api/cameras/${h264[0]}/motion`, { action: 'stop', kind: 'person' });
  await until(page, 'the person badge gone', (n) => !document.querySelector(`.cam[data-camera="${n}"] .kinds-now .kind-person`), h264[0]);

  // The tab hidden: the players stop, the server sees no viewer; shown again: they play again.
  await setHidden(page, true);
  await until(page, 'every player paused', () => [...document.querySelectorAll('video.live')]
    .every((v) => v.dataset.live === 'paused' || v.dataset.live === 'unsupported'));
  out.viewers_hidden = await untilHere('no viewers while hidden', async () => {
    const v = await viewers();
    return Object.values(v).every((n) => n === 0) && v;
  });
  await setHidden(page, false);
  for (const name of h264) await plays(page, `.cam[data-camera="${name}"] video.live`, `${name} after the tab is shown`);

  // The grid: every camera, the H.264 ones playing; leaving the dashboard ended its streams.
  await page.click('nav a[data-nav="live"]');
  await until(page, 'a tile per camera', (n) => document.querySelectorAll('.tile').length === n, cameras.length);
  out.grid = {};
  for (const name of h264) out.grid[name] = await plays(page, `.tile[data-camera="${name}"] video.live`, `grid ${name}`);
  out.viewers_grid = await untilHere('one viewer per camera on the grid', async () => {
    const v = await viewers();
    return h264.every((n) => v[n] === 1) && v;
  });
  await page.selectOption('#grid-cols', '2');
  out.grid_hash = await until(page, 'two columns', () => location.hash === '#/live?cols=2'
    && document.querySelector('.live-grid.cols-2') && location.hash);
  for (const name of h264) await plays(page, `.tile[data-camera="${name}"] video.live`, `grid (2 across) ${name}`);
  await shot(page, 'live-grid', false);

  // A camera page: the large view, and its sound toggle (the AAC camera has audio, the other not).
  const withAudio = cameras.find((c) => c.live.audio)?.name;
  const silent = cameras.find((c) => !c.live.audio && h264.includes(c.name))?.name;
  await page.goto(`${base}/#/camera/${encodeURIComponent(silent)}`);
  await plays(page, '.live-box.large video.live', `${silent} camera page`);
  out.silent_sound_disabled = await until(page, 'the sound button', () => {
    const b = document.querySelector('button.sound');
    return b && b.title && { disabled: b.disabled };
  });
  await page.goto(`${base}/#/camera/${encodeURIComponent(withAudio)}`);
  out.camera_page = await plays(page, '.live-box.large video.live', `${withAudio} camera page`);
  await until(page, 'sound button enabled', () => !document.querySelector('button.sound').disabled);
  await page.click('button.sound');
  out.unmuted = await page.$eval('.live-box.large video.live', (v) => !v.muted);
  out.sound_pressed = await page.getAttribute('button.sound', 'aria-pressed');
  await plays(page, '.live-box.large video.live', `${withAudio} with sound`);
  out.viewers_camera_page = await untilHere('one viewer, on this camera', async () => {
    const v = await viewers();
    return v[withAudio] === 1 && Object.values(v).reduce((a, b) => a + b, 0) === 1 && v;
  });
  await shot(page, 'camera-live', false);
  await ctx.close();
  out.viewers_after = await untilHere('no viewers once the browser left', async () => {
    const v = await viewers();
    return Object.values(v).every((n) => n === 0) && v;
  });
  return out;
}

/** A stream whose codec parameters change (the picture size, every 5 s): the player reconnects. */
async function liveReconnect(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'reconnect');
  const name = process.env.VIGIL_CAMERA;
  await page.goto(`${base}/#/camera/${encodeURIComponent(name)}`);
  await page.evaluate(() => {
    window.states = [];
    window.sizes = [];
    const v = document.querySelector('.live-box.large video.live');
    new MutationObserver(() => window.states.push(v.dataset.live)).observe(v, { attributes: true, attributeFilter: ['data-live'] });
    v.addEventListener('resize', () => window.sizes.push(`${v.videoWidth}x${v.videoHeight}`));
  });
  const sel = '.live-box.large video.live';
  const first = await plays(page, sel, 'the first stream');
  out.sizes = await until(page, 'both picture sizes, each playing after a reconnect', () => {
    const s = new Set(window.sizes);
    return s.has('320x240') && s.has('480x360')
      && window.states.filter((x) => x === 'retry').length >= 2 && [...s];
  }, undefined, 40_000);
  out.last = await plays(page, sel, 'after the reconnects');
  out.first = first;
  out.states = await page.evaluate(() => window.states);
  await shot(page, 'live-reconnect', false);
  await ctx.close();
  return out;
}

/**
 * More cameras than a browser's six connections to a host: every one plays on the dashboard and
 * the page's API calls still get through (a badge follows a motion sent meanwhile).
 */
async function liveMany(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 1200 } });
  const page = await ctx.newPage();
  watch(page, 'many');
  await page.goto(`${base}/`);
  const { cameras } = await apiGet('/api/cameras');
  out.cameras = cameras.length;
  out.playing = [];
  for (const c of cameras) {
    await plays(page, `.cam[data-camera="${c.name}"] video.live`, `dashboard ${c.name}`);
    out.playing.push(c.name);
  }
  out.viewers = await untilHere('a viewer per camera', async () => {
    const v = await viewers();
    return Object.values(v).every((n) => n === 1) && v;
  });
  const last = cameras[cameras.length - 1].name;
  const headers = { 'Content-Type': 'application/json', ...(TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {}) };
  const r = await fetch(`${base}/api/cameras/${encodeURIComponent(last)}/motion`, {
    method: 'POST', headers, body: JSON.stringify({ action: 'pulse', duration_ms: 3000 }),
  });
  if (r.status !== 202) throw new Error(`motion: ${r.status}`);
  out.badge = await until(page, `${last}'s badge RECORDING`, (n) => {
    const t = document.querySelector(`.cam[data-camera="${n}"] .badge`)?.textContent;
    return t === 'RECORDING' && t;
  }, last);
  await shot(page, 'live-many', false);
  await ctx.close();
  return out;
}

/** Integrations: an unreachable broker and a dead webhook show as such, with their errors. */
async function integrations(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'integrations');
  await page.goto(`${base}/#/integrations`);
  out.nav_active = await until(page, 'the nav link active', () =>
    document.querySelector('[data-nav="integrations"]')?.classList.contains('active'));
  out.mqtt_state = await until(page, 'MQTT in backoff', () =>
    document.querySelector('.mqtt[data-state="backoff"] .mqtt-state')?.textContent);
  out.mqtt_error = await page.textContent('.mqtt-error');
  out.hook_error = await until(page, 'the webhook failing', () =>
    document.querySelector('.webhooks .hook-error')?.textContent);
  out.hook_url = await page.textContent('.webhooks tbody td code');
  await shot(page, 'integrations');
  await ctx.close();
  return out;
}

/**
 * The clip store (docs/cluster.md): a clip only the store has is marked and plays (streamed
 * from the store through vigil); the store stopped: the storage page's card and the alert.
 */
async function clipStore(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'clip_store');
  await page.goto(`${base}/#/recordings`);
  out.badge = await until(page, 'a clip marked as in the store only', () =>
    document.querySelector('tr[data-id] .badge.store-stored')?.textContent);
  await page.click('tr[data-id] button.play');
  out.played = await until(page, 'the clip plays from the store', () => {
    const v = document.querySelector('#player-video');
    return v && v.readyState >= 2 && v.duration > 0 && v.duration;
  });
  await shot(page, 'clip_store_list', false);
  await ctx.close();
  return out;
}

/** The clip store is down: the storage page's card says so, with the alert. */
async function clipStoreDown(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'clip_store_down');
  await page.goto(`${base}/#/storage`);
  out.card = await until(page, 'the clip store card says the store is down', () => {
    const c = [...document.querySelectorAll('section.card')].find((x) => x.querySelector('h2')?.textContent === 'Clip store');
    return c && !c.hidden && c.textContent.includes('not answering') && c.textContent;
  });
  out.alert = await until(page, 'the clip store alert', () =>
    [...document.querySelectorAll('li.alert')].map((l) => l.textContent).find((t) => t.includes('clip_store')));
  await shot(page, 'clip_store');
  await ctx.close();
  return out;
}

/** Pictures: clip thumbnails in the list and the timeline, the detector's card with a snapshot. */
async function pictures(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page, 'pictures');
  await page.goto(`${base}/#/recordings`);
  out.thumb_width = await until(page, 'a clip picture loaded', () => {
    const img = document.querySelector('img.thumb');
    return img && img.complete && img.naturalWidth > 0 && img.naturalWidth;
  });
  // The pointer onto a bar (the timeline redraws as clips come: move off and on until the
  // picture shows).
  for (let i = 0; i < 20 && !out.preview; i++) {
    const box = await page.locator('.tl-clip .tl-bar').first().boundingBox();
    await page.mouse.move(box.x - 40, box.y - 40);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    out.preview = await page.waitForFunction(() => {
      const p = document.querySelector('.tl-preview');
      return p && !p.hidden && p.complete && p.naturalWidth > 0 && p.naturalWidth;
    }, undefined, { timeout: 1500 }).then((hnd) => hnd.jsonValue(), () => null);
  }
  await shot(page, 'recordings-pictures');
  await page.goto(`${base}/#/camera/yard`);
  out.detect_state = await until(page, 'the detector card', () => {
    const n = document.querySelector('.motion-now');
    return n && n.closest('section') && !n.closest('section').hidden && n.textContent;
  });
  out.snapshot_width = await until(page, 'the snapshot', () => {
    const img = document.querySelector('.detect-view img');
    return img && img.complete && img.naturalWidth > 0 && img.naturalWidth;
  });
  out.saw_motion = await until(page, 'motion now', () =>
    document.querySelector('.motion-now')?.dataset.motion === 'true', undefined, 40000);
  await shot(page, 'camera-detect');

  // Another camera, detection off: turned on from its page with a mask drawn over the left half
  // of its picture (four clicks and "Close polygon").
  await page.goto(`${base}/#/camera/gate`);
  await until(page, 'the detection form loaded', () => document.querySelector('#d-detect_threshold')?.value === '20');
  out.gate_picture = await until(page, 'the picture to draw on', () => {
    const img = document.querySelector('.zone-board img');
    return img && img.complete && img.naturalWidth > 0 && img.naturalWidth;
  });
  await page.check('#d-detect');
  // Positions relative to the board at each click (the cards above it change height as they
  // refresh).
  const board = page.locator('.zone-board');
  const size = await board.boundingBox();
  for (const [x, y] of [[0.02, 0.02], [0.5, 0.02], [0.5, 0.98], [0.02, 0.98]]) {
    await board.click({ position: { x: x * size.width, y: y * size.height } });
  }
  out.draft_points = await page.$$eval('.zone-svg circle.draft', (c) => c.length);
  await page.click('#zone-close');
  out.masks_drawn = await page.$$eval('.zone-svg polygon.mask', (p) => p.length);
  await page.fill('#d-detect_min_secs', '0.4');
  await page.click('form.detect-settings button[type=submit]');
  await until(page, 'Saved (detection)', () =>
    (document.querySelector('.detect-settings .form-status')?.textContent || '').startsWith('Saved'), undefined, 30000);
  out.gate_detect = await apiGet('/api/cameras/gate/detect');
  out.gate_detector = await until(page, 'the detector card on gate', () => {
    const n = document.querySelector('.motion-now');
    return n && !n.closest('section').hidden && n.textContent;
  });
  await shot(page, 'camera-detect-settings');

  // A refused value is shown at its field.
  expected.push({ status: 400, url: '/api/cameras/gate/detect' });
  await page.fill('#d-detect_threshold', '0');
  await page.click('form.detect-settings button[type=submit]');
  out.threshold_error = await until(page, 'the error at detect_threshold', () =>
    document.querySelector('[data-field="detect_threshold"] .field-error')?.textContent);
  await ctx.close();
  return out;
}

/**
 * Users over HTTPS (a test certificate): the sign-in dialog, a wrong password said in it, a
 * viewer's pages without controls (and a DELETE refused 403), the session cookie's flags, sign
 * out, an admin saving a setting, and the sign-in limiter.
 */
async function users(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 }, ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  watch(page, 'users');
  const dialogOpen = () => document.getElementById('token-dialog')?.open === true;
  const signIn = async (name, password) => {
    await until(page, 'the sign-in dialog', dialogOpen);
    await page.fill('#login-name', name);
    await page.fill('#login-password', password);
    await page.click('#login-form button[type=submit]');
  };
  // The page's first calls are refused until someone signs in.
  expected.push({ status: 401, url: '/api/', open: true });
  await page.goto(`${base}/#/`);
  await shot(page, 'sign-in');
  await signIn('bob', 'not bobs password');
  out.wrong_password = await until(page, 'the refusal', () => document.getElementById('login-error').textContent);
  await signIn('bob', 'bob-password');
  await until(page, 'signed in', () => !document.getElementById('token-dialog').open);
  out.viewer_who = await until(page, 'who is signed in', () => document.getElementById('who-name').textContent);
  const cookies = await ctx.cookies();
  const c = cookies.find((k) => k.name === 'vigil_session');
  out.cookie = c && { httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite };
  // A viewer: the camera page without its forms and trigger, clips without delete or protect.
  await page.goto(`${base}/#/camera/front`);
  await until(page, 'the camera page', () => document.querySelector('.live-card') && document.querySelectorAll('dl').length > 0);
  out.viewer_forms_visible = await page.$$eval('form.settings', (fs) => fs.filter((f) => f.offsetParent !== null).length);
  out.viewer_trigger_visible = await page.$$eval('.head-actions button', (bs) => bs.filter((b) => b.offsetParent !== null).length);
  await page.goto(`${base}/#/recordings`);
  await until(page, 'a clip row', () => document.querySelector('tr[data-id]'));
  out.viewer_delete_buttons = await page.$$eval('button.delete, button.protect', (bs) => bs.filter((b) => b.offsetParent !== null).length);
  expected.push({ status: 403, url: '/api/recordings/' });
  out.viewer_delete_status = await page.evaluate(async () => {
    const id = document.querySelector('tr[data-id]').dataset.id;
    const r = await fetch(`/api/recordings/${id}`, { method: 'DELETE' });
    return r.status;
  });
  await shot(page, 'recordings-viewer');
  // Signed out: the dialog again; the admin sees and uses the settings form.
  await page.click('#sign-out');
  await signIn('alice', 'alice-password');
  await until(page, 'signed in as alice', () => document.getElementById('who-name').textContent.startsWith('alice'));
  await page.goto(`${base}/#/camera/front`);
  await until(page, 'the form loaded', () => document.querySelector('#f-pre_buffer_secs')?.value === '2');
  out.admin_forms_visible = await page.$$eval('form.settings', (fs) => fs.filter((f) => f.offsetParent !== null).length);
  await page.fill('#f-pre_buffer_secs', '3');
  await page.click('form.settings:not(.detect-settings) button[type=submit]');
  out.admin_saved = await until(page, 'Saved', () => {
    const t = document.querySelector('.form-status')?.textContent || '';
    return t.startsWith('Saved') && t;
  });
  await shot(page, 'camera-admin');
  // Five wrong passwords from this address, then even the right one waits.
  await page.click('#sign-out');
  expected.push({ status: 429, url: '/api/login', open: true });
  for (let i = 0; i < 5; i++) {
    await signIn('alice', 'wrong password');
    await until(page, `refusal ${i + 1}`, (n) => document.getElementById('login-error').textContent.includes('wrong'), i);
    await page.evaluate(() => { document.getElementById('login-error').textContent = ''; });
  }
  await signIn('alice', 'alice-password');
  out.limited = await until(page, 'the limiter', () => {
    const t = document.getElementById('login-error').textContent;
    return t.includes('too many') && t;
  });
  await shot(page, 'sign-in-limited');
  await ctx.close();
  return out;
}

/**
 * Cameras from the UI: "Add camera", a test that fails (said, nothing added), one that works
 * (saved, its page opens), a change of its URL, its deletion. (The network search is not
 * clicked: tests never probe a real network.)
 */
async function cameras(browser) {
  const out = {};
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page, 'cameras');
  const [good, other] = (process.env.VIGIL_FILES || '').split(',');
  await page.goto(`${base}/#/`);
  await page.click('#add-camera');
  await until(page, 'the add page', () => document.querySelector('#c-name'));
  await shot(page, 'camera-add');
  await page.fill('#c-name', 'porch');
  await page.fill('#c-url', 'file:/nowhere/porch.mp4');
  await page.click('#camera-save');
  out.failed_test = await until(page, 'the failed test', () => {
    const r = document.querySelector('.probe-result');
    return r && !r.hidden && r.textContent.includes('FAILED') && r.textContent;
  });
  out.failed_status = await page.textContent('.camera-form .form-status');
  out.cameras_after_failed_test = (await apiGet('/api/cameras')).cameras.length;
  await page.fill('#c-url', `file:${good}`);
  await page.click('#camera-save');
  await until(page, 'the new camera page', () => location.hash === '#/camera/porch');
  out.added = (await apiGet('/api/cameras/porch')).url;
  // Changed: another file.
  await page.click('a[href="#/cameras/edit/porch"]');
  await until(page, 'the edit form filled', () => document.querySelector('#c-url')?.value.startsWith('file:'));
  out.delete_visible = await page.isVisible('#camera-delete');
  await page.fill('#c-url', `file:${other}`);
  await page.click('#camera-save');
  await until(page, 'back on its page', () => location.hash === '#/camera/porch');
  out.changed = (await apiGet('/api/cameras/porch')).url;
  // A config file's camera: no delete.
  await page.goto(`${base}/#/cameras/edit/front`);
  await until(page, 'front loaded', () => document.querySelector('#c-url')?.value.startsWith('file:'));
  out.front_delete_visible = await page.isVisible('#camera-delete');
  out.front_name_disabled = await page.isDisabled('#c-name');
  // Deleted.
  await page.goto(`${base}/#/cameras/edit/porch`);
  await until(page, 'porch loaded', () => document.querySelector('#c-url')?.value.startsWith('file:'));
  page.once('dialog', (d) => d.accept());
  await page.click('#camera-delete');
  await until(page, 'the dashboard', () => location.hash === '#/');
  out.after_delete = (await apiGet('/api/cameras')).cameras.map((c) => c.name);
  await ctx.close();
  return out;
}

/**
 * A cluster (docs/cluster.md), seen from one node: a camera another node records is on the
 * dashboard with its node and plays there and on its camera page (the live view comes through
 * this node). VIGIL_CAMERA: that camera; VIGIL_NODE: the node recording it.
 */
async function cluster(browser) {
  const out = {};
  const name = process.env.VIGIL_CAMERA;
  const node = process.env.VIGIL_NODE;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  watch(page, 'cluster');
  await page.goto(`${base}/`);
  out.card_clips = await until(page, `${name}'s card names node ${node}`, ([n, nd]) => {
    const t = document.querySelector(`.cam[data-camera="${n}"] dl.facts`)?.textContent || '';
    return t.includes(`node ${nd}`) && t;
  }, [name, node]);
  out.dashboard = await plays(page, `.cam[data-camera="${name}"] video.live`, `dashboard ${name} (node ${node})`);
  // This node's list has the recording node's entry: the viewer is counted there.
  out.viewers = await untilHere(`node ${node} counting the viewer`, async () => (await viewers())[name] === 1 && 1);
  // Its pre-buffer graph: samples of the recording node's history (asked through this node).
  out.card_points = await until(page, `${name}'s card graph with 2 samples`, (n) => {
    const l = document.querySelector(`.cam[data-camera="${n}"] .chart polyline.c0`);
    const k = l ? l.getAttribute('points').split(' ').length : 0;
    return k >= 2 && k;
  }, name, 30_000);
  await shot(page, 'cluster-dashboard', false);
  await page.goto(`${base}/#/camera/${encodeURIComponent(name)}`);
  out.camera_page = await plays(page, '.live-box.large video.live', `${name} camera page (node ${node})`);
  out.camera_points = await until(page, 'the camera page graph with 2 samples', () => {
    const l = document.querySelector('.chart polyline.c0');
    const k = l ? l.getAttribute('points').split(' ').length : 0;
    return k >= 2 && k;
  }, undefined, 30_000);
  out.node_fact = await until(page, 'the Node fact', () => {
    const dts = [...document.querySelectorAll('dl.facts dt')];
    return dts.find((d) => d.textContent === 'Node')?.nextElementSibling?.textContent;
  });
  await shot(page, 'cluster-camera', false);
  await ctx.close();
  return out;
}

const SCENARIOS = { cameras, cluster, users, clip_store: clipStore, clip_store_down: clipStoreDown, dashboard, integrations, pictures, settings, recordings, live, live_reconnect: liveReconnect, live_many: liveMany };

async function main() {
  if (!SCENARIOS[scenario]) throw new Error(`unknown scenario ${scenario}`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // What this machine needs (no network beyond loopback) plus autoplay without a gesture.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const out = await SCENARIOS[scenario](browser);
    if (problems.length) throw new Error(`console errors:\n  ${problems.join('\n  ')}`);
    out.elapsed_ms = Date.now() - t0;
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  process.stderr.write(`ui ${scenario} FAILED: ${e.stack || e}\n`);
  if (problems.length) process.stderr.write(`console errors so far:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
});
